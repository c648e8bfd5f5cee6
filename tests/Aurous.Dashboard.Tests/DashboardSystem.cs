using Aurous.Testing;

namespace Aurous.Dashboard.Tests;

/// <summary>
/// The whole system for the dashboard tests (the dashboard, the API, the worker, Postgres, Redis and Azurite, booted
/// from the AppHost), with the seeded development user's credentials as a newcomer reads them from dev.env.
/// </summary>
public sealed class DashboardSystem : IAsyncLifetime
{
    public AurousTestApp System { get; private set; } = null!;

    public Uri DashboardUrl => System.Endpoint("dashboard");

    /// <summary>dev.env as the AppHost wrote it (AUROUS_BASE_URL, AUROUS_API_KEY, AUROUS_DASHBOARD_URL, ...).</summary>
    public IReadOnlyDictionary<string, string> DevEnv { get; private set; } = new Dictionary<string, string>();

    public string DevEmail => DevEnv["AUROUS_DASHBOARD_EMAIL"];
    public string DevPassword => DevEnv["AUROUS_DASHBOARD_PASSWORD"];

    public async Task InitializeAsync()
    {
        System = await AurousTestApp.StartAsync();
        // dev.env is written once every resource is healthy, which StartAsync has waited for; allow the writer a moment.
        for (var i = 0; i < 100 && !File.Exists(System.Settings.DevEnvPath); i++)
        {
            await Task.Delay(100);
        }
        DevEnv = File.ReadAllLines(System.Settings.DevEnvPath)
            .Where(l => l.Contains('=', StringComparison.Ordinal))
            .Select(l => l.Split('=', 2))
            .ToDictionary(p => p[0], p => p[1]);
    }

    public async Task DisposeAsync() => await System.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class DashboardCollection : ICollectionFixture<DashboardSystem>
{
    public const string Name = "dashboard system";
}
