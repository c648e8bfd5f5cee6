using Aurous.Accounts;
using Aurous.Api.Chat;
using Aurous.Api.Generation;
using Aurous.Jobs;
using Aurous.Api.Health;
using Aurous.Api.Inference;
using Aurous.Api.Metering;
using Aurous.Api.OpenApi;
using Aurous.Models;

namespace Aurous.Api.Extensions;

public static class ApiServiceExtensions
{
    public const string InferenceWorkerClient = "inference-worker";

    public static WebApplicationBuilder AddApiServices(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        var config = builder.Configuration;

        builder.AddAurousPipeline();
        services.AddApiDocument();

        builder.AddNpgsqlDataSource("postgres", settings => settings.DisableHealthChecks = true, b => AccountsDataSource.Configure(b.ConnectionStringBuilder));
        builder.AddAzureBlobServiceClient("blobs");
        services.AddSingleton<TeamStore>();
        services.AddSingleton<Ledger>();
        services.AddSingleton<CreditHolds>();
        services.AddSingleton<CreditCommitQueue>().AddOptions<CreditCommitOptions>().BindConfiguration(CreditCommitOptions.Section)
            .Validate(o => o.MaxBatchSize >= 1, "Ledger:MaxBatchSize must be at least 1.").ValidateOnStart();
        services.AddSingleton<CreditLeaseStore>();
        services.AddSingleton<CreditLeases>();
        services.AddHostedService(sp => sp.GetRequiredService<CreditLeases>());
        services.AddSingleton<IdempotencyStore>();
        services.AddSingleton<MeteringPipeline>();
        services.AddMeteringOptions();
        services.AddHostedService<HoldSweeper>();
        services.AddSingleton<ModelTokenizers>();
        services.AddSingleton<ServedContextWindows>();
        services.AddSingleton<InferenceWorkerClient>();
        services.AddSingleton<ChatCompletionStore>();

        var models = ModelCatalog.LocateModelsDirectory(config["Models:Path"], AppContext.BaseDirectory);
        services.AddSingleton(ModelCatalog.Load(models));
        services.AddSingleton(sp => LoraCatalog.Load(models, sp.GetRequiredService<ModelCatalog>()));

        // Image and video jobs: rows and outputs here, runs on the inference worker's Hangfire servers.
        builder.AddJobStorage();
        services.AddSingleton<JobStore>();
        services.AddSingleton<OutputBlobs>();
        services.AddSingleton<OutputLinks>().AddOutputLinkOptions();
        services.AddOptions<GenerationOptions>().Bind(config.GetSection(GenerationOptions.Section))
            .Validate(o => o.QueueTimeout > TimeSpan.Zero, "Generation:QueueTimeout must be positive.")
            .ValidateOnStart();

        // Resolved by service discovery (services__inference-worker__http__0). The worker client bounds its own calls
        // (InferenceWorkerClient): a generic retry or circuit breaker would only delay the clear 503 a client needs.
#pragma warning disable EXTEXP0001 // RemoveAllResilienceHandlers is marked for evaluation; it is the documented way to opt one client out
        services.AddHttpClient(InferenceWorkerClient, c => c.BaseAddress = new Uri($"http://{InferenceWorkerClient}"))
            .RemoveAllResilienceHandlers()
            // The client logs its own failures (InferenceWorkerClient); the factory's per-call log handlers would only
            // add two async layers and a log scope to every call.
            .RemoveAllLoggers()
            .AddInferenceWorkerTimeouts()
            .AddInternalApiKey();
#pragma warning restore EXTEXP0001

        // The client integrations' own checks, under the names /health has always reported.
        services.AddHealthChecks()
            .AddNpgSql(sp => sp.GetRequiredService<Npgsql.NpgsqlDataSource>(), name: "postgres", timeout: TimeSpan.FromSeconds(3))
            .AddCheck<RedisHealthCheck>("redis")
            .AddCheck<InferenceWorkerHealthCheck>(InferenceWorkerClient);
        return builder;
    }
}
