using Aurous.Accounts;
using Aurous.InferenceWorker.Jobs.Moderation;
using Aurous.Jobs;
using Hangfire.Common;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Aurous.InferenceWorker.Jobs;

public static class JobRunnerServiceExtensions
{
    public const string PostgresConnection = "postgres";
    public const string BlobsConnection = "blobs";

    /// <summary>
    /// The job runner: Hangfire's servers in this process (<see cref="JobHosting.AddJobServers"/>), next to the
    /// generator, running <see cref="GenerationJobRunner"/> for <see cref="IGenerationJobs"/>, the moderation policy, and
    /// the recurring upkeep. Needs <c>ConnectionStrings:postgres</c>, <c>ConnectionStrings:blobs</c> and
    /// <c>Outputs:PublicBaseUrl</c>; a worker given no database serves the synchronous endpoints only (chat,
    /// embeddings), as a worker dedicated to them does.
    /// </summary>
    public static TBuilder AddGenerationJobs<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        if (string.IsNullOrEmpty(builder.Configuration.GetConnectionString(PostgresConnection)))
        {
            return builder;
        }
        var services = builder.Services;

        // Postgres and blob storage degrade the worker's health rather than fail it: chat and embeddings do not need
        // them, and jobs wait in their queue (or retry) until they are back.
        builder.AddNpgsqlDataSource(PostgresConnection, settings => settings.DisableHealthChecks = true);
        builder.AddAzureBlobServiceClient(BlobsConnection);
        services.AddHealthChecks().AddNpgSql(sp => sp.GetRequiredService<Npgsql.NpgsqlDataSource>(), name: PostgresConnection,
            failureStatus: HealthStatus.Degraded, timeout: TimeSpan.FromSeconds(3));
        services.Configure<HealthCheckServiceOptions>(o =>
        {
            foreach (var check in o.Registrations.Where(r => r.Name == BlobsConnection))
            {
                check.FailureStatus = HealthStatus.Degraded;
            }
        });

        services.AddSingleton<CreditHolds>();
        services.AddSingleton<JobStore>();
        services.AddSingleton<OutputBlobs>();
        services.AddSingleton<JobEvents>();
        services.AddOptions<OutputsOptions>().BindConfiguration(OutputsOptions.Section)
            .Validate(o => OutputsOptions.IsUsable(o.PublicBaseUrl), "Outputs:PublicBaseUrl must be the API's absolute http(s) address.")
            .ValidateOnStart();
        services.AddOptions<ModerationOptions>().BindConfiguration(ModerationOptions.Section)
            .Validate(o => !ModerationPolicy.Problems(o).Any(), "Moderation: every category needs a code, a message and rules whose groups list valid terms.")
            .ValidateOnStart();
        services.AddSingleton<ModerationPolicy>();
        // Created per job by Hangfire's activator; a worker built without a generator still starts (its jobs then fail).
        services.AddScoped<IGenerationJobs>(sp => ActivatorUtilities.CreateInstance<GenerationJobRunner>(sp));
        services.AddScoped<JobUpkeep>();
        services.AddSingleton<JobFilterAttribute, RetriesExhaustedFilter>();

        builder.AddJobServers();
        services.AddHostedService<UpkeepSchedule>();
        return builder;
    }
}
