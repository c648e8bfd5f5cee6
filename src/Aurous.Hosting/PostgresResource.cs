using Npgsql;

namespace Aurous.Hosting;

/// <summary>
/// PostgreSQL from Debian's binaries, on loopback TCP only, data under the state folder, run as the postgres account
/// (postgres refuses root). Creates its database once healthy. Stands in for Aspire.Hosting.PostgreSQL.
/// </summary>
public sealed class PostgresResource(string name, string databaseName, int defaultPort)
    : ProcessResource(name, defaultPort), IResourceWithConnectionString
{
    private const string ServiceAccount = "postgres";
    private string _password = "";

    public string DatabaseName { get; } = databaseName;

    public string ConnectionString => Build(DatabaseName);

    /// <summary>Fast shutdown: roll back open transactions and close connections instead of waiting for clients.</summary>
    protected override int StopSignal => SupervisedProcess.SIGINT;

    internal override void Initialize(RunContext context, PortAllocator ports)
    {
        base.Initialize(context, ports);
        _password = Secrets.Get(context, "postgres-password");
    }

    /// <summary>
    /// The cluster lives under the state folder when the postgres account can reach it; when some parent folder is
    /// closed to other users (a checkout under /root, say) it lives under /var/tmp/aurous instead, keyed by the state folder.
    /// </summary>
    private static string DataDirectory(RunContext context)
    {
        var preferred = context.StatePath("postgres");
        if (ReachableByOthers(context.Options.StateDirectory))
        {
            return preferred;
        }
        var key = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(preferred)))[..16];
        return Path.Combine("/var/tmp/aurous", "postgres-" + key);
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

    private static string BinDirectory()
    {
        var root = "/usr/lib/postgresql";
        var bin = Directory.Exists(root)
            ? Directory.EnumerateDirectories(root).Select(d => Path.Combine(d, "bin"))
                .Where(d => File.Exists(Path.Combine(d, "postgres"))).OrderDescending().FirstOrDefault()
            : null;
        return bin ?? throw new MissingDependencyException("PostgreSQL (postgres, initdb)", "eng/bootstrap.sh");
    }

    internal override void DeleteExternalState(RunContext context)
    {
        var data = DataDirectory(context);
        if (!data.StartsWith(context.Options.StateDirectory, StringComparison.Ordinal) && Directory.Exists(data))
        {
            Directory.Delete(data, recursive: true);
        }
    }

    protected override async Task PrepareAsync(RunContext context, CancellationToken cancellationToken)
    {
        var bin = BinDirectory();
        var data = DataDirectory(context);
        if (File.Exists(Path.Combine(data, "PG_VERSION")))
        {
            return;
        }
        if (!data.StartsWith(context.Options.StateDirectory, StringComparison.Ordinal))
        {
            context.Log(Name, $"the state folder is not reachable by the '{ServiceAccount}' account; keeping the cluster in {data}");
            Directory.CreateDirectory(Path.GetDirectoryName(data)!);
            File.SetUnixFileMode(Path.GetDirectoryName(data)!, (UnixFileMode)0b111_101_101);
        }
        Directory.CreateDirectory(data);
        await Sh.RunAsync("chown", ["-R", $"{ServiceAccount}:{ServiceAccount}", data], cancellationToken);
        File.SetUnixFileMode(data, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var pwFile = Path.Combine(Path.GetDirectoryName(data)!, $".pgpass-init-{Port}");
        await File.WriteAllTextAsync(pwFile, _password, cancellationToken);
        await Sh.RunAsync("chown", [$"{ServiceAccount}:{ServiceAccount}", pwFile], cancellationToken);
        try
        {
            context.Log(Name, "initialising a new database cluster");
            await Sh.RunAsync("setpriv",
                [$"--reuid={ServiceAccount}", $"--regid={ServiceAccount}", "--init-groups", "--",
                 Path.Combine(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=scram-sha-256",
                 $"--pwfile={pwFile}", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"],
                cancellationToken);
        }
        catch (InvalidOperationException ex)
        {
            throw new ResourceFailedException(Name,
                $"could not initialise its data folder {data} ({ex.Message}); every parent folder must be enterable by the '{ServiceAccount}' user");
        }
        finally
        {
            File.Delete(pwFile);
        }
    }

    protected override (string, IEnumerable<string>, string?) Command(RunContext context) => (
        Path.Combine(BinDirectory(), "postgres"),
        ["-D", DataDirectory(context), "-p", Port.ToString(), "-c", "listen_addresses=127.0.0.1",
         "-c", "unix_socket_directories=", "-c", "max_connections=300", "-c", "fsync=on",
         "-c", "log_min_messages=warning", "-c", "log_line_prefix="],
        ServiceAccount);

    protected override async Task<bool> IsHealthyAsync(CancellationToken cancellationToken)
    {
        await using var conn = new NpgsqlConnection(Build("postgres") + ";Timeout=2;Pooling=false");
        await conn.OpenAsync(cancellationToken);
        return true;
    }

    protected override async Task OnHealthyAsync(RunContext context, CancellationToken cancellationToken)
    {
        await using var conn = new NpgsqlConnection(Build("postgres") + ";Pooling=false");
        await conn.OpenAsync(cancellationToken);
        await using var exists = new NpgsqlCommand("SELECT 1 FROM pg_database WHERE datname = @n", conn);
        exists.Parameters.AddWithValue("n", DatabaseName);
        if (await exists.ExecuteScalarAsync(cancellationToken) is null)
        {
            await using var create = new NpgsqlCommand($"CREATE DATABASE \"{DatabaseName}\"", conn);
            await create.ExecuteNonQueryAsync(cancellationToken);
            context.Log(Name, $"created database {DatabaseName}");
        }
    }

    private string Build(string database) =>
        $"Host=127.0.0.1;Port={Port};Username=postgres;Password={_password};Database={database}";
}
