using System.Collections.Concurrent;
using Aurous.Accounts;
using Aurous.AppHost;
using Npgsql;

namespace Aurous.Hosting.Testing;

/// <summary>
/// A private copy of the whole system (or of the resources a test names, with what they wait for), built from the
/// AppHost's own application model on free loopback ports with its state in a temporary folder.
/// </summary>
public sealed class AurousTestApp : IAsyncDisposable
{
    private readonly NpgsqlDataSource _db;

    private AurousTestApp(DistributedApplication app, AurousAppSettings settings, ConcurrentQueue<string> log)
    {
        App = app;
        Settings = settings;
        Log = log;
        _db = NpgsqlDataSource.Create(app.GetConnectionString("postgres"));
    }

    public DistributedApplication App { get; }
    public AurousAppSettings Settings { get; }

    /// <summary>Every log line of every resource, "[resource] line", for assertions and for failure output.</summary>
    public ConcurrentQueue<string> Log { get; }

    public NpgsqlDataSource Database => _db;

    public static async Task<AurousTestApp> StartAsync(IEnumerable<string>? only = null, int apiReplicas = 1, CancellationToken cancellationToken = default)
    {
        var repoRoot = AurousAppSettings.FindRepoRoot(AppContext.BaseDirectory);
        var home = Directory.CreateTempSubdirectory("aurous-test-").FullName;
        // The postgres account must be able to enter the state folder.
        File.SetUnixFileMode(home, (UnixFileMode)0b111_101_101);
        var settings = new AurousAppSettings(repoRoot, home) { ApiReplicas = apiReplicas };
        var log = new ConcurrentQueue<string>();
        var builder = new DistributedApplicationBuilder(new DistributedApplicationOptions
        {
            RepoRoot = repoRoot,
            StateDirectory = settings.StateDirectory,
            DynamicPorts = true,
            EphemeralStorage = true,
            LogSink = (resource, line) => log.Enqueue($"[{resource}] {line}"),
        });
        AurousApp.Define(builder, settings);
        var app = builder.Build();
        try
        {
            await app.StartAsync(only, cancellationToken);
        }
        catch (Exception ex)
        {
            throw new InvalidOperationException($"The test system failed to start: {ex.Message}\n{string.Join('\n', log.TakeLast(60))}", ex);
        }
        return new AurousTestApp(app, settings, log);
    }

    /// <summary>The API's /v1 base address, as an OpenAI SDK client wants it.</summary>
    public Uri ApiV1 => new(App.GetEndpoint("api"), "/v1");

    public HttpClient CreateApiClient(string? apiKey = null, string instance = "api")
    {
        var client = new HttpClient { BaseAddress = App.GetEndpoint(instance) };
        if (apiKey is not null)
        {
            client.DefaultRequestHeaders.Add("X-Api-Key", apiKey);
        }
        return client;
    }

    /// <summary>A new team with <paramref name="credits"/> granted and one API key with <paramref name="scopes"/>.</summary>
    public async Task<(string TeamId, string ApiKey)> CreateTeamAsync(decimal credits = 100m, IReadOnlyCollection<string>? scopes = null)
    {
        var teamId = await new TeamStore(_db).CreateAsync("Test team " + Guid.NewGuid().ToString("N")[..8]);
        if (credits > 0)
        {
            await new Ledger(_db).GrantAsync(teamId, credits, "grant", "test grant");
        }
        var (_, key) = await new ApiKeyStore(_db).CreateAsync(teamId, "test key", scopes);
        return (teamId, key);
    }

    /// <summary>Sets the team's own rate limits (null: the platform default).</summary>
    public async Task SetLimitsAsync(string teamId, int? rpm, int? tpm)
    {
        await using var cmd = _db.CreateCommand("UPDATE teams SET rpm_limit = @rpm, tpm_limit = @tpm WHERE id = @t");
        cmd.Parameters.AddWithValue("t", teamId);
        cmd.Parameters.AddWithValue("rpm", (object?)rpm ?? DBNull.Value);
        cmd.Parameters.AddWithValue("tpm", (object?)tpm ?? DBNull.Value);
        await cmd.ExecuteNonQueryAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await App.DisposeAsync();
        await _db.DisposeAsync();
        try
        {
            Directory.Delete(Settings.HomeDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A server may still hold a file for a moment; the temp folder is disposable anyway.
        }
    }
}
