using Aurous.Accounts;
using Aurous.Api.Health;
using Aurous.Api.Pipeline;
using Aurous.Models;
using Aurous.Persistence;
using StackExchange.Redis;

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

        var models = ModelCatalog.LocateModelsDirectory(config["Models:Path"], AppContext.BaseDirectory);
        services.AddSingleton(ModelCatalog.Load(models));

        var redis = config.GetConnectionString("redis")
            ?? throw new InvalidOperationException("ConnectionStrings:redis is not set (env ConnectionStrings__redis).");
        services.AddSingleton(new Lazy<ConnectionMultiplexer>(() => ConnectionMultiplexer.Connect(redis)));

        var worker = config[$"services:{InferenceWorkerClient}:http:0"]
            ?? throw new InvalidOperationException($"services:{InferenceWorkerClient}:http:0 is not set (env services__{InferenceWorkerClient}__http__0).");
        services.AddHttpClient(InferenceWorkerClient, c => c.BaseAddress = new Uri(worker));

        services.AddHealthChecks()
            .AddCheck<PostgresHealthCheck>("postgres")
            .AddCheck<RedisHealthCheck>("redis")
            .AddCheck<InferenceWorkerHealthCheck>(InferenceWorkerClient);
        return builder;
    }
}
