using Hangfire;
using Hangfire.Common;
using Hangfire.States;
using Hangfire.PostgreSql;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Aurous.Jobs;

/// <summary>
/// Hangfire on Postgres (Hangfire.PostgreSql) in the schema <see cref="SchemaName"/>, which the MigrationService
/// installs. The API and the dashboard use the storage only (enqueue, read); the InferenceWorker adds the servers.
/// </summary>
public static class JobHosting
{
    public const string SchemaName = "hangfire";
    private const string ConnectionName = "postgres";

    /// <summary>Hangfire's storage and client (BackgroundJob / RecurringJob through DI), without a server.</summary>
    public static IHostApplicationBuilder AddJobStorage(this IHostApplicationBuilder builder)
    {
        var connectionString = builder.Configuration.GetConnectionString(ConnectionName)
            ?? throw new InvalidOperationException($"ConnectionStrings:{ConnectionName} is not set (env ConnectionStrings__{ConnectionName}).");
        builder.Services.AddOptions<JobRunnerOptions>().BindConfiguration(JobRunnerOptions.Section)
            .Validate(o => o.IsValid(),
                "JobRunner: worker counts, attempts and intervals must be positive, retry delays not negative, and an upkeep schedule set.")
            .ValidateOnStart();
        builder.Services.AddHangfire((services, config) =>
        {
            var options = services.GetRequiredService<IOptions<JobRunnerOptions>>().Value;
            config
                .SetDataCompatibilityLevel(CompatibilityLevel.Version_180)
                .UseSimpleAssemblyNameTypeSerializer()
                .UseRecommendedSerializerSettings()
                .UsePostgreSqlStorage(b => b.UseNpgsqlConnection(connectionString), new PostgreSqlStorageOptions
                {
                    SchemaName = SchemaName,
                    PrepareSchemaIfNecessary = false,
                    UseSlidingInvisibilityTimeout = true,
                    InvisibilityTimeout = options.InvisibilityTimeout,
                    QueuePollInterval = options.QueuePollInterval,
                });
            config.UseFilter(new GenerationQueueFilter());
            // Filters a service registers (the worker's retry policy and its end-of-retries handler) replace Hangfire's
            // global defaults of the same kind.
            foreach (var filter in services.GetServices<JobFilterAttribute>())
            {
                foreach (var same in GlobalJobFilters.Filters.Where(f => f.Instance.GetType() == filter.GetType()).Select(f => f.Instance).ToList())
                {
                    GlobalJobFilters.Filters.Remove(same);
                }
                config.UseFilter(filter);
            }
        });
        return builder;
    }

    /// <summary>
    /// The InferenceWorker's two servers: one for generation (as many workers as the generator runs at once), one for
    /// webhook deliveries and upkeep, so a long generation never delays a webhook.
    /// </summary>
    public static IHostApplicationBuilder AddJobServers(this IHostApplicationBuilder builder)
    {
        builder.AddJobStorage();
        // A job that throws (an infrastructure fault: database, blob storage) runs again after a delay, a bounded number
        // of times; a job with its own [AutomaticRetry] keeps it. Hangfire's default is ten retries over about a day.
        builder.Services.AddSingleton<JobFilterAttribute>(services =>
        {
            var options = services.GetRequiredService<IOptions<JobRunnerOptions>>().Value;
            return new AutomaticRetryAttribute
            {
                Attempts = options.GenerationAttempts - 1,
                DelaysInSeconds = options.RetryDelays,
                OnAttemptsExceeded = AttemptsExceededAction.Fail,
            };
        });
        builder.Services.AddHangfireServer((services, o) =>
        {
            var (options, heartbeat) = ServerTiming(services);
            o.ServerName = $"{Environment.MachineName}:{Environment.ProcessId}:generation";
            o.Queues = [JobQueues.Generation];
            o.WorkerCount = options.GenerationWorkers;
            o.ServerTimeout = options.InvisibilityTimeout;
            o.SchedulePollingInterval = options.SchedulePollInterval;
            o.HeartbeatInterval = heartbeat;
            o.ServerCheckInterval = heartbeat;
        });
        builder.Services.AddHangfireServer((services, o) =>
        {
            var (options, heartbeat) = ServerTiming(services);
            o.ServerName = $"{Environment.MachineName}:{Environment.ProcessId}:webhooks";
            o.Queues = [JobQueues.Webhooks, JobQueues.Maintenance];
            o.WorkerCount = options.WebhookWorkers;
            o.ServerTimeout = options.InvisibilityTimeout;
            o.SchedulePollingInterval = options.SchedulePollInterval;
            o.HeartbeatInterval = heartbeat;
            o.ServerCheckInterval = heartbeat;
        });
        return builder;
    }

    /// <summary>The runner's settings and the servers' heartbeat: a server is declared dead (and its jobs handed back)
    /// after InvisibilityTimeout without one.</summary>
    private static (JobRunnerOptions Options, TimeSpan Heartbeat) ServerTiming(IServiceProvider services)
    {
        var options = services.GetRequiredService<IOptions<JobRunnerOptions>>().Value;
        return (options, TimeSpan.FromTicks(Math.Min(TimeSpan.FromSeconds(30).Ticks, options.InvisibilityTimeout.Ticks / 3)));
    }

    /// <summary>Creates or upgrades Hangfire's tables (run by the MigrationService before any service starts).</summary>
    public static async Task InstallSchemaAsync(NpgsqlDataSource db, CancellationToken ct)
    {
        await using var connection = await db.OpenConnectionAsync(ct);
        PostgreSqlObjectsInstaller.Install(connection, SchemaName);
    }

    /// <summary>
    /// Keeps generation jobs on <see cref="JobQueues.Generation"/> whenever they are enqueued, including a retry moved
    /// back from Scheduled (which Hangfire would otherwise put on its "default" queue, served by no server here): the
    /// effect of a [Queue] attribute, for a job type declared in the contract without one.
    /// </summary>
    private sealed class GenerationQueueFilter : JobFilterAttribute, IElectStateFilter
    {
        public void OnStateElection(ElectStateContext context)
        {
            if (context.CandidateState is EnqueuedState enqueued && context.BackgroundJob.Job?.Type == typeof(IGenerationJobs))
            {
                enqueued.Queue = JobQueues.Generation;
            }
        }
    }
}
