using System.Diagnostics;
using Aurous.Accounts;
using Aurous.Persistence;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Aurous.MigrationService;

/// <summary>
/// Applies pending schema migrations, then (when <c>DevSeed:KeyFile</c> is set, as a local run sets it) makes sure a
/// development team with credits exists and writes a working key for it to that file. Exits 0 on success, 1 on
/// failure, so the services that wait for this step never start against a half-made schema.
/// </summary>
internal sealed class DatabaseInitializer(NpgsqlDataSource db, IOptions<DevSeedOptions> devSeed, IHostApplicationLifetime lifetime, ILogger<DatabaseInitializer> log)
    : BackgroundService
{
    public const string ActivitySourceName = "Aurous.MigrationService";
    private static readonly ActivitySource Source = new(ActivitySourceName);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var activity = Source.StartActivity("Initialize database");
        try
        {
            var applied = await SchemaMigrator.MigrateAsync(db, stoppingToken);
            log.LogInformation("{Outcome}", applied.Count == 0 ? "schema is up to date" : $"applied {string.Join(", ", applied)}");
            await Aurous.Jobs.JobHosting.InstallSchemaAsync(db, stoppingToken);
            if (devSeed.Value.KeyFile is { Length: > 0 } keyFile)
            {
                await SeedDevelopmentTeamAsync(keyFile, stoppingToken);
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            log.LogCritical(ex, "Database initialisation failed");
            activity?.SetStatus(ActivityStatusCode.Error, ex.Message);
            Environment.ExitCode = 1;
        }
        lifetime.StopApplication();
    }

    private async Task SeedDevelopmentTeamAsync(string keyFile, CancellationToken ct)
    {
        var remembered = File.Exists(keyFile) ? (await File.ReadAllTextAsync(keyFile, ct)).Trim() : null;
        var seeder = new DevelopmentTeamSeeder(new TeamStore(db), new ApiKeyStore(db), new Ledger(db));
        var seed = await seeder.EnsureAsync(remembered, ct);
        if (seed.ApiKey != remembered)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(keyFile)!);
            await File.WriteAllTextAsync(keyFile, seed.ApiKey, ct);
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(keyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }
        }
        log.LogInformation(seed.Created
            ? "seeded '{Team}' with {Credits} credits"
            : "development team '{Team}' present", DevelopmentTeamSeeder.TeamName, DevelopmentTeamSeeder.StartingCredits);
    }
}
