using System.Security.Cryptography;
using Aurous.Accounts;
using Aurous.Hosting;
using Aurous.ModelForge;
using Aurous.Models;
using Aurous.Persistence;
using Npgsql;

namespace Aurous.AppHost;

/// <summary>Where this copy of the system keeps its files.</summary>
public sealed record AurousAppSettings(string RepoRoot, string HomeDirectory)
{
    public string StateDirectory => Path.Combine(HomeDirectory, "state");
    public string DevEnvPath => Path.Combine(HomeDirectory, "dev.env");
    public string ModelsDirectory { get; init; } = Path.Combine(RepoRoot, "models");

    /// <summary>How many API instances to run (1 locally; tests run 3 to prove limits hold across instances).</summary>
    public int ApiReplicas { get; init; } = 1;

    /// <summary>The repository root: the nearest folder above <paramref name="start"/> that holds Aurous.sln.</summary>
    public static string FindRepoRoot(string start)
    {
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Aurous.sln")))
            {
                return dir.FullName;
            }
        }
        throw new DirectoryNotFoundException($"Aurous.sln not found above {start}.");
    }
}

/// <summary>
/// The wiring diagram of Aurous: what runs, what each part references, and what it waits for. The AppHost's Program
/// runs it; the end-to-end tests build the very same model (the role of Aspire.Hosting.Testing).
/// </summary>
public static class AurousApp
{
    public static DistributedApplicationBuilder Define(DistributedApplicationBuilder builder, AurousAppSettings settings)
    {
        var postgres = builder.AddPostgres("postgres", databaseName: "aurous");
        var redis = builder.AddRedis("redis");
        var blobs = builder.AddAzurite("blobs");

        var migrations = builder.AddStep("migrations", async (step, ct) =>
            {
                var applied = await SchemaMigrator.MigrateAsync(step.ConnectionString("postgres"), ct);
                step.Log(applied.Count == 0 ? "schema is up to date" : $"applied {string.Join(", ", applied)}");
            })
            .WithReference(postgres).WaitFor(postgres);

        // The secret the API presents on the worker's /internal routes: new on every run, known only to the two.
        var internalApiKey = Convert.ToHexString(RandomNumberGenerator.GetBytes(32));

        // Locally the tiny test models (ModelForge) are generated where no real export is in the models folder.
        var models = builder.AddStep("models", (step, ct) => Task.Run(() =>
        {
            var written = Forge.EnsureGenerated(ModelCatalog.Load(settings.ModelsDirectory));
            step.Log(written.Count == 0 ? "models are complete" : $"generated {written.Count} file(s)");
        }, ct));

        var worker = builder.AddProject("inference-worker", "Aurous.InferenceWorker", port: 5070)
            .WithEnvironment("Models__Path", settings.ModelsDirectory)
            .WithEnvironment("InternalApi__Key", internalApiKey)
            .WaitFor(models);

        // Replicas (api-2, api-3, ...) share Postgres and Redis, as API instances behind a load balancer do.
        var apis = Enumerable.Range(1, settings.ApiReplicas).Select(i =>
            builder.AddProject(i == 1 ? "api" : $"api-{i}", "Aurous.Api", port: 5080 + i - 1)
                .WithReference(postgres).WithReference(redis).WithReference(blobs).WithReference(worker)
                .WithEnvironment("Models__Path", settings.ModelsDirectory)
                .WithEnvironment("InternalApi__Key", internalApiKey)
                .WaitFor(migrations).WaitFor(redis).WaitFor(blobs).WaitFor(worker)).ToArray();
        var api = apis[0];

        var dashboard = builder.AddProject("dashboard", "Aurous.Dashboard", port: 5090)
            .WithReference(postgres).WithReference(api)
            .WaitFor(api);

        builder.AddStep("dev-seed", async (step, ct) =>
            {
                var seed = await SeedDevelopmentTeamAsync(step.ConnectionString("postgres"), settings.DevEnvPath, ct);
                await File.WriteAllTextAsync(settings.DevEnvPath, string.Join('\n',
                    $"AUROUS_BASE_URL={api.Resource.HttpEndpoint.ToString().TrimEnd('/')}/v1",
                    $"AUROUS_API_KEY={seed.ApiKey}",
                    $"AUROUS_DASHBOARD_URL={dashboard.Resource.HttpEndpoint.ToString().TrimEnd('/')}",
                    ""), ct);
                File.SetUnixFileMode(settings.DevEnvPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
                step.Log(seed.Created
                    ? $"seeded '{DevelopmentTeamSeeder.TeamName}' with {DevelopmentTeamSeeder.StartingCredits} credits; key written to {settings.DevEnvPath}"
                    : $"development key still valid ({settings.DevEnvPath})");
            })
            .WithReference(postgres).WaitFor(migrations);

        return builder;
    }

    private static async Task<DevelopmentTeamSeeder.Result> SeedDevelopmentTeamAsync(string connectionString, string devEnvPath, CancellationToken ct)
    {
        string? remembered = null;
        if (File.Exists(devEnvPath))
        {
            remembered = File.ReadAllLines(devEnvPath)
                .Where(l => l.StartsWith("AUROUS_API_KEY=", StringComparison.Ordinal))
                .Select(l => l["AUROUS_API_KEY=".Length..].Trim())
                .FirstOrDefault();
        }
        await using var db = NpgsqlDataSource.Create(connectionString);
        var seeder = new DevelopmentTeamSeeder(new TeamStore(db), new ApiKeyStore(db), new Ledger(db));
        return await seeder.EnsureAsync(remembered, ct);
    }
}
