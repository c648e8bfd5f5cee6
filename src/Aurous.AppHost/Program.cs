using Microsoft.Extensions.Configuration;
using Aurous.AppHost;

// The wiring diagram of Aurous. Locally, postgres, redis and blobs (Azurite) run as executables from eng/, the schema
// and a development team are applied once, then the inference worker, the API and the dashboard start, each once what
// it needs is healthy. Published (`--publisher manifest`), the three stores are connection strings given at deploy time.
var launch = LaunchOptions.Parse(args);
var builder = DistributedApplication.CreateBuilder(new DistributedApplicationOptions
{
    Args = launch.Args,
    DisableDashboard = launch.NoDashboard,
});
var local = LocalState.Open(builder, launch.Fresh);

var postgres = builder.AddLocalPostgres("postgres", local, port: 5433);
var redis = builder.AddLocalRedis("redis", local, port: 6380);
var blobs = builder.AddLocalAzurite("blobs", local, port: 10000);
var internalApiKey = builder.AddParameter("internal-api-key", () => local.Secret("internal-api-key"), secret: true);

var migrations = builder.AddProject<Projects.Aurous_MigrationService>("migrations")
    .WithStore(postgres)
    .WithDevelopmentSeed(local);

var models = builder.AddModelGenerator(local);

// The worker also runs the image and video jobs (Hangfire's servers next to the generator, docs/jobs.md): it needs the
// database and blob storage, and the schema (Hangfire's included) before it starts taking jobs.
var worker = builder.AddProject<Projects.Aurous_InferenceWorker>("inference-worker")
    .WithDirectEndpoint(local)
    .WithLocalModels(local, models)
    .WithEnvironment("InternalApi__Key", internalApiKey)
    .WithStore(postgres).WithStore(blobs)
    .WithJobRunnerSettings(builder.Configuration)
    .WaitForCompletion(migrations)
    .WithHttpHealthCheck("/health");

// Extra instances (api-2, ...) share Postgres and Redis, as replicas behind a load balancer do. The API needs the
// schema before it starts, not the worker: without one it answers 503 model_unavailable and recovers when it is back.
// Each knows how many there are: while Redis is away, every instance enforces its share of a team's limits.
var apiReplicas = builder.Configuration.GetValue("Aurous:ApiReplicas", 1);
var apis = Enumerable.Range(1, apiReplicas).Select(i =>
    builder.AddProject<Projects.Aurous_Api>(i == 1 ? "api" : $"api-{i}")
        .WithEndpoint("http", e => e.Port += i - 1)
        .WithDirectEndpoint(local)
        .WithStore(postgres).WithStore(redis).WithStore(blobs)
        .WithReference(worker)
        .WithEnvironment("InternalApi__Key", internalApiKey)
        .WithEnvironment("RateLimits__ApiInstances", apiReplicas.ToString(System.Globalization.CultureInfo.InvariantCulture))
        .WithLocalModels(local, models)
        .WaitForCompletion(migrations)
        .WithHttpHealthCheck("/health")
        .WithExternalHttpEndpoints()).ToArray();

// Output links (/v1/outputs/{token}) point at the first API instance, from the API and in the worker's webhook events.
foreach (var service in apis.Append(worker))
{
    service.WithEnvironment("Outputs__PublicBaseUrl", apis[0].GetEndpoint("http"));
}

// The team dashboard, with its accounts in Postgres; it seeds one account at start-up (DashboardAccount): locally the
// development user, published an operator from parameters.
var dashboard = builder.AddProject<Projects.Aurous_Dashboard>("dashboard")
    .WithDirectEndpoint(local)
    .WithStore(postgres)
    .WithSeededAccount(builder, local)
    .WithEnvironment("Outputs__PublicBaseUrl", apis[0].GetEndpoint("http"))
    .WaitForCompletion(migrations)
    .WithReference(apis[0])
    .WithHttpHealthCheck("/health")
    .WithExternalHttpEndpoints();

builder.ExportTelemetryOnlyToTheDashboard();
builder.WriteDevelopmentEnvironment(local, api: apis[0], dashboard);

builder.Build().Run();
