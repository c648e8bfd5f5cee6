using Hangfire;
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

    /// <summary>How often an idle server looks for new jobs (it is also woken at once by Postgres notifications).</summary>
    public TimeSpan QueuePollInterval { get; set; } = TimeSpan.FromSeconds(1);
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
            .Validate(o => o.GenerationWorkers > 0 && o.WebhookWorkers > 0 && o.InvisibilityTimeout > TimeSpan.Zero && o.QueuePollInterval > TimeSpan.Zero,
                "JobRunner: worker counts and intervals must be positive.")
            .ValidateOnStart();
        builder.Services.AddHangfire(config => config
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
            }));
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
        builder.Services.AddHangfireServer(o =>
        {
            o.ServerName = $"{Environment.MachineName}:{Environment.ProcessId}:generation";
            o.Queues = [JobQueues.Generation];
            o.WorkerCount = options.GenerationWorkers;
            o.ServerTimeout = options.InvisibilityTimeout;
        });
        builder.Services.AddHangfireServer(o =>
        {
            o.ServerName = $"{Environment.MachineName}:{Environment.ProcessId}:webhooks";
            o.Queues = [JobQueues.Webhooks, JobQueues.Maintenance];
            o.WorkerCount = options.WebhookWorkers;
            o.ServerTimeout = options.InvisibilityTimeout;
        });
        return builder;
    }

    /// <summary>Creates or upgrades Hangfire's tables (run by the MigrationService before any service starts).</summary>
    public static async Task InstallSchemaAsync(NpgsqlDataSource db, CancellationToken ct)
    {
        await using var connection = await db.OpenConnectionAsync(ct);
        PostgreSqlObjectsInstaller.Install(connection, SchemaName);
    }
}
