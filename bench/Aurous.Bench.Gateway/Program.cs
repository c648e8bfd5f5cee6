using System.Diagnostics;
using System.Text;
using Aspire.Hosting.ApplicationModel;
using Aurous.Bench.Gateway;
using Aurous.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

// Our metered API and an unmetered proxy side by side: Portkey's gateway in front of a mock upstream, our API in front
// of our worker, each also measured alone, and a bare .NET pass-through in front of the worker (the hop's own cost),
// under one open-loop generator that alternates targets round by round.
// Prints latency from each request's scheduled start, throughput, and the CPU each process spends per request.
if (args is [MockUpstream.Command, var base64Path, var floatPath])
{
    return await MockUpstream.ServeAsync(base64Path, floatPath);
}
if (args is [BareProxy.Command, var upstream])
{
    return await BareProxy.ServeAsync(upstream);
}
BenchOptions options;
try
{
    options = BenchOptions.Parse(args);
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine(ex.Message);
    return 64;
}

Console.WriteLine($"Booting the system (postgres, redis, blobs, worker, api); rates {string.Join(", ", options.Rates)}/s, "
    + $"{options.Rounds} rounds of {options.Seconds} s, encoding_format {options.Format}, targets {string.Join(", ", options.Targets)}");
// The services' console output is relayed to the AppHost's loggers; on this console it would bury the tables.
await using var system = await AurousTestApp.StartAsync(only: ["api"], configure: builder =>
{
    builder.Services.AddLogging(logging => logging.AddFilter<ConsoleLoggerProvider>("Aurous.AppHost.Resources", LogLevel.None));
    var api = builder.Resources.OfType<ProjectResource>().Single(r => r.Name == "api");
    foreach (var (name, value) in options.ApiEnvironment)
    {
        api.Annotations.Add(new EnvironmentCallbackAnnotation(env => env[name] = value));
    }
});
if (options.ApiEnvironment.Count > 0)
{
    Console.WriteLine("API environment: " + string.Join(", ", options.ApiEnvironment.Select(v => $"{v.Key}={v.Value}")));
}
var children = new List<Process>();
try
{
    // Team 0 takes every request of the "api" rows (its balance is the hot spot); "api-x32" spreads them over 32 teams.
    var keys = new List<string>();
    for (var i = 0; i < 33; i++)
    {
        var (teamId, key) = await system.CreateTeamAsync(credits: 1_000_000m);
        await system.SetLimitsAsync(teamId, rpm: 100_000_000, tpm: 1_000_000_000);
        keys.Add(key);
    }
    using var http = new HttpClient(new SocketsHttpHandler
    {
        MaxConnectionsPerServer = options.MaxInFlight,
        PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
        UseCookies = false,
        UseProxy = false,
        ActivityHeadersPropagator = null,
    })
    { Timeout = TimeSpan.FromSeconds(60) };

    var apiUrl = new Uri(system.Endpoint("api"), "/v1/embeddings");
    var encoding = $",\"encoding_format\":\"{options.Format}\"";
    var body = $$"""{"input":"Hello world","model":"aurous-embed-vision-1.0"{{encoding}}}""";

    // The mock answers with exactly what our API answers for the same request.
    async Task<byte[]> ApiAnswer(string format)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, apiUrl)
        {
            Content = new StringContent($$"""{"input":"Hello world","model":"aurous-embed-vision-1.0","encoding_format":"{{format}}"}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new("Bearer", keys[0]);
        using var response = await http.SendAsync(request);
        var bytes = await response.Content.ReadAsByteArrayAsync();
        return response.IsSuccessStatusCode ? bytes
            : throw new InvalidOperationException($"The API answered {(int)response.StatusCode} to a plain embeddings request: {Encoding.UTF8.GetString(bytes)}");
    }
    var (mock, mockUrl) = await MockUpstream.StartAsync(await ApiAnswer("base64"), await ApiAnswer("float"), system.Settings.HomeDirectory);
    children.Add(mock);
    Process? portkey = null;
    Uri? portkeyUrl = null;
    if (options.Targets.Contains("portkey"))
    {
        (portkey, portkeyUrl) = await Portkey.StartAsync(system.Settings.RepoRoot);
        children.Add(portkey);
    }
    Process? proxy = null;
    Uri? proxyUrl = null;
    if (options.Targets.Contains("proxy"))
    {
        (proxy, proxyUrl) = await BareProxy.StartAsync(system.Endpoint("inference-worker"));
        children.Add(proxy);
    }
    // What the API asks of the worker for this input: the GPT-2 ids of "Hello world".
    const string WorkerBody = """{"model":"aurous-embed-vision-1.0","parts":[{"type":"text","token_ids":[15496,995]}]}""";

    var targets = new List<Target>();
    foreach (var name in options.Targets)
    {
        targets.Add(name switch
        {
            "mock" => new Target(name, new Uri(mockUrl, "/v1/embeddings"), body, [], ["sk-mock"]),
            // Portkey's OpenAI provider, pointed at the mock by a custom host; the key is passed on to the upstream.
            "portkey" => new Target(name, new Uri(portkeyUrl!, "/v1/embeddings"), body,
                [new("x-portkey-provider", "openai"), new("x-portkey-custom-host", new Uri(mockUrl, "/v1").ToString())], ["sk-mock"]),
            "worker" => new Target(name, new Uri(system.Endpoint("inference-worker"), BareProxy.WorkerRoute), WorkerBody, [], [system.InternalApiKey]),
            // The same request through a pass-through with nothing in it: the cost of the hop alone.
            "proxy" => new Target(name, new Uri(proxyUrl!, BareProxy.WorkerRoute), WorkerBody, [], [system.InternalApiKey]),
            "api" => new Target(name, apiUrl, body, [], [keys[0]]),
            _ => new Target(name, apiUrl, body, [], keys.Skip(1).ToArray()),
        });
    }

    var model = system.App.Services.GetRequiredService<DistributedApplicationModel>();
    var meters = new List<Meter>();
    foreach (var (meter, resource) in new[] { ("api", "api"), ("postgres", "postgres"), ("redis", "redis"), ("blobs", "blobs"), ("worker", "inference-worker") })
    {
        if (model.Resources.Any(r => r.Name == resource))
        {
            var pid = await system.ProcessIdAsync(resource);
            meters.Add(new Meter(meter, s => s.TreeSeconds(pid)));
        }
    }
    if (portkey is not null)
    {
        meters.Add(new Meter("portkey", s => s.TreeSeconds(portkey.Id)));
    }
    if (proxy is not null)
    {
        meters.Add(new Meter("proxy", s => s.TreeSeconds(proxy.Id)));
    }
    meters.Add(new Meter("mock", s => s.TreeSeconds(mock.Id)));
    // The load generator shares its process with the AppHost (which relays the services' console logs); DCP runs the services.
    meters.Add(new Meter("bench", s => s.ProcessSeconds(Environment.ProcessId)));
    // DCP's API server is not our child (it detaches) but watches us: "dcp start-apiserver --monitor <our pid>".
    var dcp = ProcSnapshot.FindByCommandLine(c => c.Contains(" start-apiserver ", StringComparison.Ordinal) && c.Contains($" --monitor {Environment.ProcessId} ", StringComparison.Ordinal));
    if (dcp is int dcpPid)
    {
        meters.Add(new Meter("dcp", s => s.NamedSeconds(dcpPid, n => n == "dcp")));
    }
    if (options.ShowProcesses)
    {
        var now = ProcSnapshot.Take();
        foreach (var root in new[] { Environment.ProcessId, dcp ?? 0 })
        {
            now.Describe(root).ToList().ForEach(Console.WriteLine);
        }
    }

    // Warm-up (JIT, pools, caches), which also stops a broken target (e.g. a gateway answering 500) before it is timed.
    foreach (var target in targets)
    {
        var warm = await OpenLoop.RunAsync(http, target, options.Rates.Min(), TimeSpan.FromSeconds(options.Warmup), options.MaxInFlight);
        if (warm.Errors * 2 > warm.Scheduled - warm.Unsent)
        {
            Console.Error.WriteLine($"{target.Name} ({target.Url}) failed {warm.Errors} of {warm.Scheduled - warm.Unsent} warm-up requests; first failure: {target.FirstFailure}");
            return 2;
        }
    }

    // The runtime finishes compiling the hot paths in the background for some seconds after the warm-up (the API used
    // half a core for it): that belongs to start-up, not to the first rate measured, so wait for it (20 s at most).
    await SettledAsync(meters, TimeSpan.FromSeconds(20));

    // What each process spends with no load at all (timers, pollers, background services): read the rounds against it.
    Console.WriteLine();
    Console.WriteLine("CPU at rest after the warm-up, ms per second: " + await AtRestAsync(meters));
    Console.WriteLine();
    Console.WriteLine(Report.RoundHeader(meters));
    var all = new List<Measured>();
    foreach (var rate in options.Rates)
    {
        for (var round = 1; round <= options.Rounds; round++)
        {
            foreach (var target in targets)
            {
                await Task.Delay(500); // let the previous round's stragglers and background work settle
                var before = ProcSnapshot.Take();
                var result = await OpenLoop.RunAsync(http, target, rate, TimeSpan.FromSeconds(options.Seconds), options.MaxInFlight);
                var after = await SettledAsync(meters, TimeSpan.FromSeconds(3));
                var measured = new Measured(rate, round, target.Name, result, CpuPerRequest.Between(meters, before, after, result.Ok));
                all.Add(measured);
                Console.WriteLine(Report.RoundLine(measured, meters));
            }
        }
    }
    Console.WriteLine();
    Console.WriteLine("CPU at rest after the rounds, ms per second: " + await AtRestAsync(meters));
    Report.PrintSummary(all, options.Targets, Console.Out);

    // A target that failed most of a round is broken, not slow: say so and exit non-zero, so no one reads it as a speed.
    var broken = all.Where(m => m.Result.Errors * 2 > m.Result.Scheduled - m.Result.Unsent).Select(m => m.Target).Distinct().ToList();
    foreach (var name in broken)
    {
        Console.Error.WriteLine($"FAILED: {name} answered most requests of a round with an error; first failure: {targets.First(t => t.Name == name).FirstFailure}");
    }
    return broken.Count > 0 ? 2 : 0;
}
finally
{
    foreach (var child in children)
    {
        try
        {
            child.Kill(entireProcessTree: true);
            child.WaitForExit(5000);
        }
        catch (InvalidOperationException)
        {
            // already gone
        }
        child.Dispose();
    }
}

// Work a round leaves behind (logs still being written out, commits, GC) belongs to that round: its closing reading is
// taken once the measured processes are back near rest (under a tenth of a core together), or after `most` at most.
static async Task<ProcSnapshot> SettledAsync(IReadOnlyList<Meter> meters, TimeSpan most)
{
    var quiet = meters.Where(m => m.Name != "bench").ToList();
    var previous = ProcSnapshot.Take();
    for (var i = 0; i < most / TimeSpan.FromMilliseconds(250); i++)
    {
        await Task.Delay(250);
        var now = ProcSnapshot.Take();
        var busy = quiet.Sum(m => m.Seconds(now) - m.Seconds(previous)) / 0.25;
        previous = now;
        if (busy < 0.1)
        {
            break;
        }
    }
    return previous;
}

static async Task<string> AtRestAsync(IReadOnlyList<Meter> meters)
{
    await Task.Delay(1000);
    var start = ProcSnapshot.Take();
    await Task.Delay(TimeSpan.FromSeconds(3));
    var end = ProcSnapshot.Take();
    return string.Join(", ", meters.Select(m => $"{m.Name} {(m.Seconds(end) - m.Seconds(start)) * 1000 / 3:0}"));
}
