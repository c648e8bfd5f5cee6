using Hangfire;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Aurous.Jobs.Webhooks;

/// <summary>Webhooks for a service: the API (management routes, publishing) and the InferenceWorker (publishing, delivery).</summary>
public static class WebhookHosting
{
    public const string RequeueJobId = "webhooks-requeue-unqueued";

    /// <summary>
    /// Registers <see cref="IWebhookEvents"/>, the store, the sender and the delivery jobs, with options from section
    /// <c>Webhooks</c> (<see cref="WebhookOptions"/>). Uses the service's Hangfire storage (added here when the service
    /// has none yet) and its Postgres data source (connection <c>postgres</c>).
    /// </summary>
    public static IHostApplicationBuilder AddWebhooks(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<WebhookOptions>().Bind(builder.Configuration.GetSection(WebhookOptions.Section))
            .Validate(o => o.IsValid(), "Webhooks: timeouts and delays must be positive, RetryMaxDelay at least RetryBaseDelay, limits at least 1.")
            .ValidateOnStart();
        if (!services.Any(d => d.ServiceType == typeof(JobStorage)))
        {
            builder.AddJobStorage();
        }
        services.TryAddSingleton(_ => NpgsqlDataSource.Create(builder.Configuration.GetConnectionString("postgres")
            ?? throw new InvalidOperationException("ConnectionStrings:postgres is not set (env ConnectionStrings__postgres).")));
        services.AddSingleton<WebhookStore>();
        services.AddSingleton<WebhookDeliveryStore>();
        services.AddSingleton<WebhookSender>();
        services.AddSingleton<WebhookEvents>();
        services.AddSingleton<WebhookRedelivery>();
        services.AddSingleton<IWebhookEvents>(sp => sp.GetRequiredService<WebhookEvents>());
        services.AddTransient<WebhookDelivery>();
        services.AddHostedService<WebhookRecurringJobs>();
        return builder;
    }

    /// <summary>Registers the recurring sweep that hands stranded first attempts to the queue (idempotent; every start).</summary>
    private sealed class WebhookRecurringJobs(IRecurringJobManager recurring, ILogger<WebhookRecurringJobs> log) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            try
            {
                recurring.AddOrUpdate<WebhookDelivery>(RequeueJobId, d => d.RequeueUnqueuedAsync(CancellationToken.None), Cron.Minutely());
            }
            catch (Exception ex)
            {
                // Another instance registers it too; the service itself does not depend on it to start.
                log.LogWarning(ex, "Could not register the recurring job {JobId}", RequeueJobId);
            }
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
