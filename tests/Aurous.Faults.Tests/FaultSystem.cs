using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Aspire.Hosting.ApplicationModel;
using Aurous.Testing;
using Xunit.Abstractions;

namespace Aurous.Faults.Tests;

/// <summary>One system (API, worker, Postgres, Redis, Azurite) that the fault tests break and repair, one test at a time.</summary>
public sealed class FaultSystem : IAsyncLifetime
{
    public AurousTestApp System { get; private set; } = null!;

    // Writing "last used" touches api_keys (its key lookup and foreign key), which the authentication flood test counts
    // as lookups: these tests have no use for it, so it waits an hour.
    public async Task InitializeAsync() => System = await AurousTestApp.StartAsync(only: ["api"], configure: builder =>
    {
        foreach (var api in builder.Resources.OfType<ProjectResource>().Where(r => r.Name.StartsWith("api", StringComparison.Ordinal)))
        {
            api.Annotations.Add(new EnvironmentCallbackAnnotation(env => env["KeyUsage__FlushInterval"] = "01:00:00"));
        }
    });

    public async Task DisposeAsync() => await System.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class FaultCollection : ICollectionFixture<FaultSystem>
{
    public const string Name = "faults";
}

/// <summary>
/// How hard the suite pushes: the CI run (default) uses short stalls and small bursts; <c>AUROUS_FAULTS=full</c>
/// (eng/faults.sh) runs the figures the reliability document states.
/// </summary>
public static class FaultScale
{
    public static bool Full => string.Equals(Environment.GetEnvironmentVariable("AUROUS_FAULTS"), "full", StringComparison.OrdinalIgnoreCase);

    public static int Pick(int fast, int full) => Full ? full : fast;

    public static TimeSpan Pick(TimeSpan fast, TimeSpan full) => Full ? full : fast;
}

/// <summary>Appends each test's one-line figure to the test output and to artifacts/faults/summary.txt.</summary>
public static class FaultSummary
{
    private static readonly Lock Gate = new();

    public static void Record(ITestOutputHelper output, AurousTestApp system, string line)
    {
        var text = $"{(FaultScale.Full ? "full" : "fast")} | {line}";
        output.WriteLine(text);
        var folder = Path.Combine(system.Settings.RepoRoot, "artifacts", "faults");
        lock (Gate)
        {
            Directory.CreateDirectory(folder);
            File.AppendAllText(Path.Combine(folder, "summary.txt"), $"{DateTime.UtcNow:yyyy-MM-ddTHH:mm:ssZ} {text}\n");
        }
    }
}

/// <summary>
/// Signals to a resource's process and every process under it (a project runs under a launcher, so its pid may be the
/// parent of the service): SIGSTOP freezes it as a hung host would, SIGCONT thaws it.
/// </summary>
public static class Signals
{
    private const int SigInt = 2;
    private const int SigCont = 18;
    private const int SigStop = 19;

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);

    public static void Stop(int pid)
    {
        foreach (var p in Tree(pid))
        {
            Send(p, SigStop);
        }
    }

    public static void Continue(int pid)
    {
        foreach (var p in Tree(pid))
        {
            Send(p, SigCont);
        }
    }

    /// <summary>SIGINT to one process: for Postgres, a fast shutdown (sessions are ended, the server stops at once).</summary>
    public static void Interrupt(int pid) => Send(pid, SigInt);

    /// <summary>The process and its descendants, from the Linux process table.</summary>
    private static List<int> Tree(int root)
    {
        var parentOf = new Dictionary<int, int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), out var pid))
            {
                try
                {
                    var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                    parentOf[pid] = int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1]);
                }
                catch (IOException)
                {
                    // Gone meanwhile.
                }
            }
        }
        var tree = new List<int> { root };
        for (var i = 0; i < tree.Count; i++)
        {
            tree.AddRange(parentOf.Where(p => p.Value == tree[i]).Select(p => p.Key));
        }
        return tree;
    }

    private static void Send(int pid, int signal)
    {
        if (kill(pid, signal) != 0)
        {
            throw new InvalidOperationException($"kill({pid}, {signal}) failed: errno {Marshal.GetLastWin32Error()}");
        }
    }
}

/// <summary>HTTP clients to the API that connect from a chosen loopback address, so one test can be several clients.</summary>
public static class Clients
{
    public static HttpClient From(AurousTestApp system, string sourceAddress, string? apiKey = null, TimeSpan? timeout = null)
    {
        var source = IPAddress.Parse(sourceAddress);
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (context, ct) =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    socket.Bind(new IPEndPoint(source, 0));
                    var host = context.DnsEndPoint.Host is "localhost" ? IPAddress.Loopback : (await Dns.GetHostAddressesAsync(context.DnsEndPoint.Host, AddressFamily.InterNetwork, ct))[0];
                    await socket.ConnectAsync(new IPEndPoint(host, context.DnsEndPoint.Port), ct);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        var client = new HttpClient(handler) { BaseAddress = system.Endpoint("api"), Timeout = timeout ?? TimeSpan.FromSeconds(100) };
        if (apiKey is not null)
        {
            client.DefaultRequestHeaders.Add("X-Api-Key", apiKey);
        }
        return client;
    }
}
