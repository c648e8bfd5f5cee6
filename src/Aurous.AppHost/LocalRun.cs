using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Aurous.AppHost;

/// <summary>What only a local run does: seed a development team, point services at the repository's models, and
/// write <c>.aurous/dev.env</c> once everything is healthy.</summary>
internal static class LocalRun
{
    private const string AspireDashboard = "aspire-dashboard";

    /// <summary>The schema step also seeds a development team and leaves its key in the state folder.</summary>
    public static IResourceBuilder<ProjectResource> WithDevelopmentSeed(this IResourceBuilder<ProjectResource> migrations, LocalState local) =>
        local.IsRunMode ? migrations.WithEnvironment("DevSeed__KeyFile", local.DevKeyPath) : migrations;

    /// <summary>
    /// A local run first writes the small generated models (ModelForge, a run-to-completion step) into the repository's
    /// models folder; a real export placed there is left as it is. Deployed services get their models from the image.
    /// </summary>
    public static IResourceBuilder<ProjectResource>? AddModelGenerator(this IDistributedApplicationBuilder builder, LocalState local) =>
        local.IsRunMode
            ? builder.AddProject<Projects.Aurous_ModelForge>("models").WithEnvironment("Models__Path", local.ModelsDirectory).ExcludeFromManifest()
            : null;

    /// <summary>Points a service at the local models folder, once the generator has filled it.</summary>
    public static IResourceBuilder<ProjectResource> WithLocalModels(this IResourceBuilder<ProjectResource> project, LocalState local,
        IResourceBuilder<ProjectResource>? generator) =>
        generator is null ? project : project.WithEnvironment("Models__Path", local.ModelsDirectory).WaitForCompletion(generator);

    /// <summary>
    /// Serves the project's "http" endpoint without the development proxy: callers reach the process itself, so a
    /// stopped service refuses connections at once instead of leaving them open in the proxy, and no request pays
    /// for an extra hop. The port stays the same when the resource is restarted.
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithDirectEndpoint(this IResourceBuilder<ProjectResource> project, LocalState local) =>
        project.WithEndpoint("http", endpoint =>
        {
            endpoint.IsProxied = false;
            if (local.DynamicPorts)
            {
                endpoint.Port = null;
                endpoint.TargetPort = null;
            }
            else
            {
                endpoint.TargetPort = endpoint.Port;
            }
        });

    /// <summary>
    /// Aspire points every service's OTLP exporter at its dashboard even when the dashboard is off (headless runs and
    /// tests). Nothing listens there then, and each service would spend CPU retrying exports and up to seconds
    /// flushing at exit, so without a dashboard the services export nothing.
    /// </summary>
    public static void ExportTelemetryOnlyToTheDashboard(this IDistributedApplicationBuilder builder)
    {
        foreach (var project in builder.Resources.OfType<ProjectResource>())
        {
            builder.CreateResourceBuilder(project).WithEnvironment(context =>
            {
                var model = context.ExecutionContext.Services.GetRequiredService<DistributedApplicationModel>();
                if (!model.Resources.Any(r => r.Name == AspireDashboard))
                {
                    context.EnvironmentVariables.Remove("OTEL_EXPORTER_OTLP_ENDPOINT");
                    context.EnvironmentVariables.Remove("OTEL_EXPORTER_OTLP_PROTOCOL");
                }
            });
        }
    }

    public static void WriteDevelopmentEnvironment(this IDistributedApplicationBuilder builder, LocalState local,
        IResourceBuilder<ProjectResource> api, IResourceBuilder<ProjectResource> dashboard)
    {
        if (local.IsRunMode)
        {
            builder.Services.AddHostedService(sp => new DevEnvironmentWriter(sp, local, api.Resource, dashboard.Resource));
        }
    }

    /// <summary>
    /// Writes dev.env (base URL, development key, dashboard URL and sign-in) and prints where everything is, only once every
    /// resource is healthy (and the schema step has finished), so a script that waits for the file can call the API at once.
    /// </summary>
    private sealed class DevEnvironmentWriter(IServiceProvider services, LocalState local, ProjectResource api, ProjectResource dashboard) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            var notifications = services.GetRequiredService<ResourceNotificationService>();
            var model = services.GetRequiredService<DistributedApplicationModel>();
            var log = services.GetRequiredService<ILoggerFactory>().CreateLogger("Aurous.AppHost");
            try
            {
                foreach (var resource in model.Resources.Where(r => r is ProjectResource or LocalServerResource || r.Name == AspireDashboard))
                {
                    if (resource.TryGetAnnotationsOfType<HealthCheckAnnotation>(out _))
                    {
                        await notifications.WaitForResourceHealthyAsync(resource.Name, stoppingToken);
                    }
                    else if (resource.Name == AspireDashboard)
                    {
                        await notifications.WaitForResourceAsync(resource.Name, KnownResourceStates.Running, stoppingToken);
                    }
                    else
                    {
                        // A run-to-completion step (the schema); the services that need it already waited for it.
                        var done = await notifications.WaitForResourceAsync(resource.Name, e => e.Snapshot.ExitCode is not null, stoppingToken);
                        if (done.Snapshot.ExitCode != 0)
                        {
                            log.LogError("{Resource} exited with code {Code}; see its log in the Aspire dashboard", resource.Name, done.Snapshot.ExitCode);
                            return;
                        }
                    }
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }
            if (!model.Resources.Contains(api))
            {
                return; // a partial model (a test that runs only some resources)
            }

            var key = (await File.ReadAllTextAsync(local.DevKeyPath, stoppingToken)).Trim();
            var previous = File.Exists(local.DevEnvPath) ? await File.ReadAllTextAsync(local.DevEnvPath, stoppingToken) : "";
            var apiUrl = api.GetEndpoint("http").Url.TrimEnd('/');
            var dashboardUrl = model.Resources.Contains(dashboard) ? dashboard.GetEndpoint("http").Url.TrimEnd('/') : "(not started)";
            var dashboardPassword = DashboardAccount.DevelopmentPassword(local);
            await File.WriteAllTextAsync(local.DevEnvPath, string.Join('\n',
                $"AUROUS_BASE_URL={apiUrl}/v1", $"AUROUS_API_KEY={key}", $"AUROUS_DASHBOARD_URL={dashboardUrl}",
                $"AUROUS_DASHBOARD_EMAIL={DashboardAccount.DevelopmentEmail}", $"AUROUS_DASHBOARD_PASSWORD={dashboardPassword}", ""), stoppingToken);
            File.SetUnixFileMode(local.DevEnvPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            log.LogInformation(previous.Contains(key, StringComparison.Ordinal)
                ? "development key still valid ({Path})"
                : "development team seeded; key written to {Path}", local.DevEnvPath);

            // The dashboard's own sign-in link as it runs (with dynamic ports it is not the configured address).
            var aspireLogin = notifications.TryGetCurrentState(AspireDashboard, out var dashboardState)
                ? dashboardState.Snapshot.Urls.FirstOrDefault(u => !u.IsInternal && u.Name is "http" or "https")?.Url
                : null;
            if (aspireLogin is not null)
            {
                await WaitUntilAnsweringAsync(aspireLogin, stoppingToken);
            }
            var aspire = aspireLogin ?? "off (--no-dashboard)";
            Console.WriteLine($"""

                Aurous is running.
                  API:               {apiUrl}/v1   (reference: {apiUrl}/docs, OpenAPI: {apiUrl}/openapi/v1.json)
                  Dashboard:         {dashboardUrl}   (sign in as {DashboardAccount.DevelopmentEmail} / {dashboardPassword})
                  Aspire dashboard:  {aspire}
                  Dev key:           {local.DevEnvPath}   (source it, then: curl -H "X-Api-Key: $AUROUS_API_KEY" $AUROUS_BASE_URL/balance)
                Press Ctrl+C to stop.

                """);
        }

        /// <summary>"Running" means the process started; the link is printed once the dashboard also answers.</summary>
        private static async Task WaitUntilAnsweringAsync(string url, CancellationToken ct)
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
            for (var attempt = 0; attempt < 60; attempt++)
            {
                try
                {
                    using var _ = await http.GetAsync(url, ct);
                    return;
                }
                catch (HttpRequestException)
                {
                }
                catch (TaskCanceledException) when (!ct.IsCancellationRequested)
                {
                }
                await Task.Delay(500, ct);
            }
        }
    }
}
