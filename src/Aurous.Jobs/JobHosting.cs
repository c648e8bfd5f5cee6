using Hangfire;
using Hangfire.Common;
using Hangfire.States;
using Hangfire.PostgreSql;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Npgsql;

namespace Aurous.Jobs;

/// <summary>The Hangfire servers of the InferenceWorker (section <c>JobRunner</c>).</summary>
public sealed class JobRunnerOptions
{
    public const string Section = "JobRunner";

    /// <summary>Generation jobs run at once: what the generator can run side by side (one per GPU, or per CPU socket).</summary>
    public int GenerationWorkers { get; set; } = 1;

    /// <summary>Webhook deliveries and upkeep jobs run at once.</summary>
    public int WebhookWorkers { get; set; } = 4;

    /// <summary>
    /// A fetched job whose server stopped sending heartbeats (killed) goes back to its queue after this long.
    /// Running jobs keep their claim by heartbeat however long they take (sliding invisibility).
    /// </summary>
    public TimeSpan InvisibilityTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>How often an idle server looks for new jobs: a job submitted to an idle runner waits up to this long to start.</summary>
    public TimeSpan QueuePollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How often the servers move due retries and recurring upkeep onto their queues.</summary>
    public TimeSpan SchedulePollInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Runs of one generation job at most: the first and its retries after an infrastructure fault (database, blob
    /// storage) or a crash. After the last, the job ends <c>failed</c> with its hold released.
    /// </summary>
    public int GenerationAttempts { get; set; } = 4;

    /// <summary>Seconds before each retry of a generation job (the last value repeats); empty: 5, 30, 120.</summary>
    /// <remarks>Empty by default: configuration appends to an array rather than replacing it.</remarks>
    public int[] RetryDelaysSeconds { get; set; } = [];

    public int[] RetryDelays => RetryDelaysSeconds is [_, ..] ? RetryDelaysSeconds : [5, 30, 120];

    /// <summary>
    /// The upkeep schedule (cron, five fields, or six with seconds first): expiring queued jobs past their deadline and
    /// deleting expired output blobs.
    /// </summary>
    public string UpkeepCron { get; set; } = "* * * * *";
}

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
        var options = builder.Configuration.GetSection(JobRunnerOptions.Section).Get<JobRunnerOptions>() ?? new JobRunnerOptions();
        builder.Services.AddOptions<JobRunnerOptions>().Bind(builder.Configuration.GetSection(JobRunnerOptions.Section))
            .Validate(o => o.GenerationWorkers > 0 && o.WebhookWorkers > 0 && o.InvisibilityTimeout > TimeSpan.Zero && o.QueuePollInterval > TimeSpan.Zero
                    && o.SchedulePollInterval > TimeSpan.Zero && o.GenerationAttempts > 0 && o.RetryDelaysSeconds.All(d => d >= 0)
                    && !string.IsNullOrWhiteSpace(o.UpkeepCron),
                "JobRunner: worker counts, attempts and intervals must be positive, retry delays not negative, and an upkeep schedule set.")
            .ValidateOnStart();
        builder.Services.AddHangfire((services, config) =>
        {
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
        var options = builder.Configuration.GetSection(JobRunnerOptions.Section).Get<JobRunnerOptions>() ?? new JobRunnerOptions();
        // A job that throws (an infrastructure fault: database, blob storage) runs again after a delay, a bounded number
        // of times; a job with its own [AutomaticRetry] keeps it. Hangfire's default is ten retries over about a day.
        builder.Services.AddSingleton<JobFilterAttribute>(new AutomaticRetryAttribute
        {
            Attempts = options.GenerationAttempts - 1,
            DelaysInSeconds = options.RetryDelays,
            OnAttemptsExceeded = AttemptsExceededAction.Fail,
        });
        // A server is declared dead (and its jobs handed back) after InvisibilityTimeout without a heartbeat.
        var heartbeat = TimeSpan.FromTicks(Math.Min(TimeSpan.FromSeconds(30).Ticks, options.InvisibilityTimeout.Ticks / 3));
        builder.Services.AddHangfireServer(o =>
        {
            o.ServerName = $"{Environment.MachineName}:{Environment.ProcessId}:generation";
            o.Queues = [JobQueues.Generation];
            o.WorkerCount = options.GenerationWorkers;
            o.ServerTimeout = options.InvisibilityTimeout;
            o.SchedulePollingInterval = options.SchedulePollInterval;
            o.HeartbeatInterval = heartbeat;
            o.ServerCheckInterval = heartbeat;
        });
        builder.Services.AddHangfireServer(o =>
        {
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
