using System.Net.Http.Json;
using System.Collections.Concurrent;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Aurous.Accounts;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Aurous.Testing;

/// <summary>Where a test copy of the system keeps its files.</summary>
public sealed record AurousTestSettings(string RepoRoot, string HomeDirectory)
{
    public string DevEnvPath => Path.Combine(HomeDirectory, "dev.env");
    public string ModelsDirectory => Path.Combine(RepoRoot, "models");
}

/// <summary>
/// A private copy of the whole system (or of the resources a test names, with everything they reference or wait
/// for), booted from the AppHost's own application model by Aspire.Hosting.Testing, on free ports, with its state in a
/// temporary folder.
/// </summary>
public sealed class AurousTestApp : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(4);
    private readonly Dictionary<string, string> _connectionStrings;

    private AurousTestApp(DistributedApplication app, AurousTestSettings settings, ConcurrentQueue<string> log, Dictionary<string, string> connectionStrings)
    {
        App = app;
        Settings = settings;
        Log = log;
        _connectionStrings = connectionStrings;
        Database = NpgsqlDataSource.Create(connectionStrings["postgres"]);
    }

    public DistributedApplication App { get; }
    public AurousTestSettings Settings { get; }

    /// <summary>Every log line of the AppHost and of every resource, for assertions and for failure output.</summary>
    public ConcurrentQueue<string> Log { get; }

    public NpgsqlDataSource Database { get; }

    /// <param name="configure">Changes to the application model before it is built (e.g. settings for one resource).</param>
    public static async Task<AurousTestApp> StartAsync(
        IEnumerable<string>? only = null, int apiReplicas = 1, CancellationToken cancellationToken = default, Action<IDistributedApplicationTestingBuilder>? configure = null)
    {
        var home = Directory.CreateTempSubdirectory("aurous-test-").FullName;
        // The postgres account must be able to enter the state folder.
        File.SetUnixFileMode(home, (UnixFileMode)0b111_101_101);
        var log = new ConcurrentQueue<string>();
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.Aurous_AppHost>(
            ["--home", home, "--dynamic-ports", "--api-replicas", apiReplicas.ToString(System.Globalization.CultureInfo.InvariantCulture)], cancellationToken);
        var settings = new AurousTestSettings(Path.GetFullPath(Path.Combine(builder.AppHostDirectory, "..", "..")), home);
        builder.Services.AddLogging(logging => logging
            .SetMinimumLevel(LogLevel.Information)
            .AddProvider(new QueueLoggerProvider(log)));
        if (only is not null)
        {
            KeepOnly(builder, only);
        }
        // Every service's clock can be moved forward (see AdvanceClockAsync); untouched, it is the system clock.
        foreach (var project in builder.Resources.OfType<ProjectResource>())
        {
            project.Annotations.Add(new EnvironmentCallbackAnnotation(env => env["Testing__AdjustableClock"] = "true"));
        }
        configure?.Invoke(builder);

        var app = await builder.BuildAsync(cancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(StartTimeout);
        try
        {
            await app.StartAsync(timeout.Token);
            var model = app.Services.GetRequiredService<DistributedApplicationModel>();
            var notifications = app.Services.GetRequiredService<ResourceNotificationService>();
            foreach (var resource in model.Resources.Where(r => r.TryGetAnnotationsOfType<HealthCheckAnnotation>(out _)))
            {
                await notifications.WaitForResourceHealthyAsync(resource.Name, timeout.Token);
            }
            var connectionStrings = new Dictionary<string, string>();
            foreach (var store in model.Resources.OfType<IResourceWithConnectionString>())
            {
                connectionStrings[store.Name] = (await store.GetConnectionStringAsync(timeout.Token))!;
            }
            return new AurousTestApp(app, settings, log, connectionStrings);
        }
        catch (Exception ex)
        {
            await app.DisposeAsync();
            throw new InvalidOperationException($"The test system failed to start: {ex.Message}\n{string.Join('\n', log.TakeLast(80))}", ex);
        }
    }

    /// <summary>Removes every resource that the named ones neither reference nor wait for (transitively).</summary>
    private static void KeepOnly(IDistributedApplicationTestingBuilder builder, IEnumerable<string> names)
    {
        var byName = builder.Resources.ToDictionary(r => r.Name);
        var keep = new HashSet<IResource>();
        var pending = new Stack<IResource>(names.Select(n => byName[n]));
        while (pending.TryPop(out var resource))
        {
            if (!keep.Add(resource))
            {
                continue;
            }
            foreach (var wait in resource.Annotations.OfType<WaitAnnotation>())
            {
                pending.Push(wait.Resource);
            }
            foreach (var relation in resource.Annotations.OfType<ResourceRelationshipAnnotation>())
            {
                pending.Push(relation.Resource);
            }
        }
        foreach (var resource in builder.Resources.Where(r => r is ProjectResource or ExecutableResource && !keep.Contains(r)).ToList())
        {
            builder.Resources.Remove(resource);
        }
    }

    /// <summary>A resource's console log from its start (the orchestrator replays it to a new watcher), read for <paramref name="read"/>.</summary>
    public async Task<IReadOnlyList<string>> ResourceLogAsync(string resource, TimeSpan? read = null)
    {
        var lines = new List<string>();
        using var enough = new CancellationTokenSource(read ?? TimeSpan.FromSeconds(3));
        try
        {
            // By the resource (not its name): the orchestrator keeps the log under the running instance's own id.
            var model = App.Services.GetRequiredService<DistributedApplicationModel>();
            var target = model.Resources.Single(r => r.Name == resource);
            await foreach (var batch in App.Services.GetRequiredService<ResourceLoggerService>().WatchAsync(target).WithCancellation(enough.Token))
            {
                lines.AddRange(batch.Select(l => l.Content));
            }
        }
        catch (OperationCanceledException)
        {
        }
        return lines;
    }

    /// <summary>The credential the API presents to the worker's internal endpoints (generated into the state folder).</summary>
    public string InternalApiKey => System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(Settings.HomeDirectory, "state", "secrets.json")))
        .RootElement.GetProperty("internal-api-key").GetString()!;

    /// <summary>The connection string a service receives for <paramref name="name"/> (postgres, redis, blobs).</summary>
    public string ConnectionString(string name) => _connectionStrings[name];

    /// <summary>The API's /v1 base address, as an OpenAI SDK client wants it.</summary>
    public Uri ApiV1 => new(App.GetEndpoint("api", "http"), "/v1");

    public Uri Endpoint(string resource) => App.GetEndpoint(resource, "http");

    /// <summary>The process id of a running project or executable resource.</summary>
    public async Task<int> ProcessIdAsync(string resource)
    {
        var notifications = App.Services.GetRequiredService<ResourceNotificationService>();
        var e = await notifications.WaitForResourceAsync(resource,
            e => e.Snapshot.Properties.Any(p => p.Name == "executable.pid" && p.Value is int and > 0));
        return (int)e.Snapshot.Properties.First(p => p.Name == "executable.pid").Value!;
    }

    /// <summary>Starts a resource that has stopped (killed, crashed) and waits until it is healthy again; a running one is left alone.</summary>
    public async Task EnsureHealthyAsync(string resource)
    {
        var notifications = App.Services.GetRequiredService<ResourceNotificationService>();
        for (var attempt = 1; ; attempt++)
        {
            if (notifications.TryGetCurrentState(resource, out var state)
                && state.Snapshot.State?.Text is "Exited" or "Finished" or "FailedToStart")
            {
                var started = await App.Services.GetRequiredService<ResourceCommandService>().ExecuteCommandAsync(resource, KnownResourceCommands.StartCommand);
                if (!started.Success)
                {
                    throw new InvalidOperationException($"{resource} could not be started: {started.Message}");
                }
            }
            using var healthy = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            try
            {
                await notifications.WaitForResourceHealthyAsync(resource, healthy.Token);
                return;
            }
            catch (DistributedApplicationException) when (attempt < 3)
            {
                // Started again right after a kill -9, a process can fail to start (what the killed one held is not
                // yet released); a service that cannot start at all still fails on the third attempt.
                await Task.Delay(TimeSpan.FromSeconds(2));
            }
        }
    }

    /// <summary>The process ids of the long-running resources (servers and services; not run-to-completion steps).</summary>
    public async Task<IReadOnlyList<int>> ProcessIdsAsync()
    {
        var model = App.Services.GetRequiredService<DistributedApplicationModel>();
        var pids = new List<int>();
        foreach (var resource in model.Resources.Where(r => r is ProjectResource or ExecutableResource && r.TryGetAnnotationsOfType<HealthCheckAnnotation>(out _)))
        {
            pids.Add(await ProcessIdAsync(resource.Name));
        }
        return pids;
    }

    /// <summary>
    /// Moves the clock of every running service (<paramref name="services"/>, or all of them) forward by
    /// <paramref name="by"/>: expiry, grace windows and backoff then behave as if that time had passed.
    /// </summary>
    public async Task AdvanceClockAsync(TimeSpan by, params string[] services)
    {
        var model = App.Services.GetRequiredService<DistributedApplicationModel>();
        var names = services.Length > 0 ? services
            : model.Resources.OfType<ProjectResource>().Where(r => r.TryGetAnnotationsOfType<HealthCheckAnnotation>(out _)).Select(r => r.Name).ToArray();
        using var http = new HttpClient();
        foreach (var name in names)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(Endpoint(name), "/internal/clock"))
            {
                Content = JsonContent.Create(new { advance_seconds = by.TotalSeconds }),
            };
            request.Headers.Authorization = new("Bearer", InternalApiKey);
            using var response = await http.SendAsync(request);
            response.EnsureSuccessStatusCode();
        }
    }

    public HttpClient CreateApiClient(string? apiKey = null, string instance = "api")
    {
        var client = new HttpClient { BaseAddress = Endpoint(instance) };
        if (apiKey is not null)
        {
            client.DefaultRequestHeaders.Add("X-Api-Key", apiKey);
        }
        return client;
    }

    /// <summary>A new team with <paramref name="credits"/> granted and one API key with <paramref name="scopes"/>.</summary>
    public async Task<(string TeamId, string ApiKey)> CreateTeamAsync(decimal credits = 100m, IReadOnlyCollection<string>? scopes = null)
    {
        var teamId = await new TeamStore(Database).CreateAsync("Test team " + Guid.NewGuid().ToString("N")[..8]);
        if (credits > 0)
        {
            await new Ledger(Database).GrantAsync(teamId, credits, "grant", "test grant");
        }
        var (_, key) = await new ApiKeyStore(Database).CreateAsync(teamId, "test key", scopes);
        return (teamId, key);
    }

    /// <summary>Sets the team's own rate limits (null: the platform default).</summary>
    public async Task SetLimitsAsync(string teamId, int? rpm, int? tpm)
    {
        await using var cmd = Database.CreateCommand("UPDATE teams SET rpm_limit = @rpm, tpm_limit = @tpm WHERE id = @t");
        cmd.Parameters.AddWithValue("t", teamId);
        cmd.Parameters.AddWithValue("rpm", (object?)rpm ?? DBNull.Value);
        cmd.Parameters.AddWithValue("tpm", (object?)tpm ?? DBNull.Value);
        await cmd.ExecuteNonQueryAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await Database.DisposeAsync();
        await App.DisposeAsync();
        try
        {
            Directory.Delete(Settings.HomeDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A server may still hold a file for a moment; the temp folder is disposable anyway.
        }
        catch (UnauthorizedAccessException)
        {
            // Postgres' own files belong to the postgres account.
        }
    }

    private sealed class QueueLoggerProvider(ConcurrentQueue<string> queue) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new QueueLogger(queue, categoryName);

        public void Dispose()
        {
        }

        private sealed class QueueLogger(ConcurrentQueue<string> queue, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                queue.Enqueue($"[{category}] {formatter(state, exception)}{(exception is null ? "" : " " + exception.Message)}");
                while (queue.Count > 5000 && queue.TryDequeue(out _))
                {
                }
            }
        }
    }
}
