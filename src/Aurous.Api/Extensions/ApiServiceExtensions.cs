using Aurous.Accounts;
using Aurous.Api.Health;
using Aurous.Api.Inference;
using Aurous.Api.Metering;
using Aurous.Api.Pipeline;
using Aurous.Models;
using Aurous.Persistence;

namespace Aurous.Api.Extensions;

public static class ApiServiceExtensions
{
    public const string InferenceWorkerClient = "inference-worker";

    public static WebApplicationBuilder AddApiServices(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        var config = builder.Configuration;

        builder.AddAurousPipeline();
        services.AddOpenApi();

        services.AddAurousDatabase(config);
        services.AddSingleton<TeamStore>();
        services.AddSingleton<Ledger>();
        services.AddSingleton<CreditHolds>();
        services.AddSingleton<IdempotencyStore>();
        services.AddSingleton<MeteringPipeline>();
        services.AddHostedService<HoldSweeper>();
        services.AddSingleton<ModelTokenizers>();
        services.AddSingleton<InferenceWorkerClient>();

        var models = ModelCatalog.LocateModelsDirectory(config["Models:Path"], AppContext.BaseDirectory);
        services.AddSingleton(ModelCatalog.Load(models));

        var worker = config[$"services:{InferenceWorkerClient}:http:0"]
            ?? throw new InvalidOperationException($"services:{InferenceWorkerClient}:http:0 is not set (env services__{InferenceWorkerClient}__http__0).");
        services.AddHttpClient(InferenceWorkerClient, c => c.BaseAddress = new Uri(worker)).AddInferenceWorkerTimeouts().AddInternalApiKey();

        services.AddHealthChecks()
            .AddCheck<PostgresHealthCheck>("postgres")
            .AddCheck<RedisHealthCheck>("redis")
            .AddCheck<InferenceWorkerHealthCheck>(InferenceWorkerClient);
        return builder;
    }
}
