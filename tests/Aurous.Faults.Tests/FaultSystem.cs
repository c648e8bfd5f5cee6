using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Aurous.Testing;
using Xunit.Abstractions;

namespace Aurous.Faults.Tests;

/// <summary>One system (API, worker, Postgres, Redis, Azurite) that the fault tests break and repair, one test at a time.</summary>
public sealed class FaultSystem : IAsyncLifetime
{
    public AurousTestApp System { get; private set; } = null!;

    public async Task InitializeAsync() => System = await AurousTestApp.StartAsync(only: ["api"]);

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

/// <summary>Signals to the stores' and worker's processes (SIGSTOP freezes one as a hung host would; SIGCONT thaws it).</summary>
public static class Signals
{
    private const int SigCont = 18;
    private const int SigStop = 19;

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);

    public static void Stop(int pid) => Send(pid, SigStop);

    public static void Continue(int pid) => Send(pid, SigCont);

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
