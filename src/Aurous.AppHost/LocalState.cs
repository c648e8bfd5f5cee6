using Microsoft.Extensions.Configuration;
using System.Security.Cryptography;
using System.Text.Json;

namespace Aurous.AppHost;

/// <summary>
/// Where a local run keeps its files: <c>.aurous/</c> in the repository (or <c>--home DIR</c>) holds <c>dev.env</c>
/// and <c>state/</c> (database, blobs, generated secrets), so state survives restarts until <c>--fresh</c>.
/// </summary>
internal sealed class LocalState
{
    private readonly Lock _gate = new();
    private Dictionary<string, string>? _secrets;

    private LocalState(string repoRoot, string home, bool isRunMode, bool dynamicPorts)
    {
        RepoRoot = repoRoot;
        Home = home;
        IsRunMode = isRunMode;
        DynamicPorts = dynamicPorts;
    }

    public string RepoRoot { get; }
    public string Home { get; }
    public bool IsRunMode { get; }

    /// <summary>Every resource takes a free port (tests, or several copies side by side).</summary>
    public bool DynamicPorts { get; }

    public string StateDirectory => Path.Combine(Home, "state");
    public string DevEnvPath => Path.Combine(Home, "dev.env");
    public string DevKeyPath => Path.Combine(StateDirectory, "dev-key");
    public string ModelsDirectory => Path.Combine(RepoRoot, "models");
    public string Scripts => Path.Combine(RepoRoot, "eng");

    public static LocalState Open(IDistributedApplicationBuilder builder, bool fresh)
    {
        var repoRoot = Path.GetFullPath(Path.Combine(builder.AppHostDirectory, "..", ".."));
        var home = Path.GetFullPath(builder.Configuration["Aurous:Home"] ?? Path.Combine(repoRoot, ".aurous"));
        var state = new LocalState(repoRoot, home, builder.ExecutionContext.IsRunMode,
            builder.Configuration.GetValue("DcpPublisher:RandomizePorts", false));
        if (!state.IsRunMode)
        {
            return state;
        }
        if (fresh)
        {
            Console.WriteLine($"--fresh: deleting the local state in {home}");
            state.DeleteAll();
        }
        Directory.CreateDirectory(state.StateDirectory);
        return state;
    }

    /// <summary>The port a local server listens on: fixed for a developer's run, any free one with dynamic ports.</summary>
    public int? Port(int fixedPort) => DynamicPorts ? null : fixedPort;

    public string StatePath(string name) => Path.Combine(StateDirectory, name);

    /// <summary>A random secret generated on first use and kept in state/secrets.json (owner-only).</summary>
    public string Secret(string name)
    {
        lock (_gate)
        {
            var path = StatePath("secrets.json");
            _secrets ??= File.Exists(path)
                ? JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllText(path)) ?? []
                : [];
            if (!_secrets.TryGetValue(name, out var value))
            {
                value = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
                _secrets[name] = value;
                Directory.CreateDirectory(StateDirectory);
                File.WriteAllText(path, JsonSerializer.Serialize(_secrets));
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }
            return value;
        }
    }

    /// <summary>
    /// The Postgres cluster lives in the state folder when the postgres account can reach it; when a parent folder is
    /// closed to other users (a checkout under /root, say) it lives under /var/tmp/aurous, keyed by the state folder.
    /// </summary>
    public string PostgresDataDirectory
    {
        get
        {
            var preferred = StatePath("postgres");
            if (ReachableByOthers(StateDirectory))
            {
                return preferred;
            }
            var key = Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(preferred)))[..16];
            return Path.Combine("/var/tmp/aurous", "postgres-" + key);
        }
    }

    private static bool ReachableByOthers(string directory)
    {
        Directory.CreateDirectory(directory);
        for (var dir = new DirectoryInfo(directory); dir is not null; dir = dir.Parent)
        {
            if (!dir.UnixFileMode.HasFlag(UnixFileMode.OtherExecute))
            {
                return false;
            }
        }
        return true;
    }

    private void DeleteAll()
    {
        var pgData = PostgresDataDirectory;
        if (!pgData.StartsWith(Home, StringComparison.Ordinal) && Directory.Exists(pgData))
        {
            Directory.Delete(pgData, recursive: true);
        }
        if (Directory.Exists(Home))
        {
            Directory.Delete(Home, recursive: true);
        }
        Directory.CreateDirectory(Home);
    }
}
