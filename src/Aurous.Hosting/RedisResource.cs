using System.Net.Sockets;
using System.Text;

namespace Aurous.Hosting;

/// <summary>Redis from Debian's redis-server on loopback, password-protected. Stands in for Aspire.Hosting.Redis.
/// Redis holds only rate-limit buckets and caches here, so it keeps no snapshot on disk.</summary>
public sealed class RedisResource(string name, int defaultPort) : ProcessResource(name, defaultPort), IResourceWithConnectionString
{
    private string _password = "";

    public string ConnectionString => $"127.0.0.1:{Port},password={_password},abortConnect=false";

    internal override void Initialize(RunContext context, PortAllocator ports)
    {
        base.Initialize(context, ports);
        _password = Secrets.Get(context, "redis-password");
    }

    protected override (string, IEnumerable<string>, string?) Command(RunContext context)
    {
        var server = Which.Find("redis-server") ?? throw new MissingDependencyException("Redis (redis-server)", "eng/bootstrap.sh");
        var dir = context.StatePath("redis");
        Directory.CreateDirectory(dir);
        return (server,
            ["--port", Port.ToString(), "--bind", "127.0.0.1", "--requirepass", _password, "--save", "", "--appendonly", "no",
             "--dir", dir, "--loglevel", "warning"],
            null);
    }

    protected override async Task<bool> IsHealthyAsync(CancellationToken cancellationToken)
    {
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", Port, cancellationToken);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"AUTH {_password}\r\nPING\r\n"), cancellationToken);
        var buffer = new byte[64];
        var text = "";
        while (!text.Contains("+PONG") && !text.Contains("-ERR"))
        {
            var n = await stream.ReadAsync(buffer, cancellationToken);
            if (n == 0)
            {
                return false;
            }
            text += Encoding.ASCII.GetString(buffer, 0, n);
        }
        return text.Contains("+PONG");
    }
}

/// <summary>Finds an executable on PATH.</summary>
internal static class Which
{
    public static string? Find(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/local/bin:/usr/bin:/bin").Split(':')
            .Select(d => Path.Combine(d, name))
            .FirstOrDefault(File.Exists);
}
