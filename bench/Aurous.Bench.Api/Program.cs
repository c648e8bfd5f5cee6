using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using Aurous.Testing;

// POST /v1/embeddings (text) through the API versus the same embedding asked of the worker directly, in one run:
// 1) open loop at a fixed rate (latency measured from each request's scheduled start, so queueing counts),
// 2) closed loop with N concurrent clients (throughput). The API's Server-Timing header says where its time goes.
// Usage: dotnet run -c Release --project bench/Aurous.Bench.Api -- [rps=1000] [seconds=10] [clients=32]
var rps = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 1000;
var seconds = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 10;
var clients = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 32;

Console.WriteLine($"Booting the system (postgres, redis, blobs, worker, api) ... rate {rps}/s for {seconds} s, {clients} closed-loop clients");
await using var system = await AurousTestApp.StartAsync(only: ["api"]);
// One team takes every request in the "api" rows (its balance row is the hot spot); "api x32" spreads them over 32 teams.
var keys = new List<string>();
for (var i = 0; i < 33; i++)
{
    var (teamId, teamKey) = await system.CreateTeamAsync(credits: 1_000_000m);
    await system.SetLimitsAsync(teamId, rpm: 100_000_000, tpm: 1_000_000_000);
    keys.Add(teamKey);
}

var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 512, PooledConnectionLifetime = Timeout.InfiniteTimeSpan });
var api = new Target("api   ", new Uri(system.Endpoint("api"), "/v1/embeddings"),
    """{"model":"aurous-embed-vision-1.0","input":"Hello world"}""", [keys[0]]);
var apiTeams = new Target("api x32", new Uri(system.Endpoint("api"), "/v1/embeddings"),
    """{"model":"aurous-embed-vision-1.0","input":"Hello world"}""", keys.Skip(1).ToArray());
// GPT-2 ids of "Hello world", which is what the API sends the worker for that input.
var worker = new Target("worker", new Uri(system.Endpoint("inference-worker"), "/internal/embeddings"),
    """{"model":"aurous-embed-vision-1.0","parts":[{"type":"text","token_ids":[15496,995]}]}""", [], system.InternalApiKey);
// The same, answered as the API asks for it (InternalEmbeddingFrame.ContentType): the float32 bytes, not JSON numbers.
var workerFrame = new Target("worker frame", new Uri(system.Endpoint("inference-worker"), "/internal/embeddings"),
    """{"model":"aurous-embed-vision-1.0","parts":[{"type":"text","token_ids":[15496,995]}]}""", [], system.InternalApiKey,
    "application/vnd.aurous.embedding");

Target[] targets = [worker, workerFrame, api, apiTeams];
foreach (var t in targets)
{
    await ClosedLoop(http, t, clients, TimeSpan.FromSeconds(3)); // warm-up: JIT, pools, caches
}

var rows = new List<string>();
foreach (var t in targets)
{
    var r = await OpenLoop(http, t, rps, TimeSpan.FromSeconds(seconds));
    rows.Add($"| open loop {rps}/s | {t.Name} | {r.Achieved:0} | {r.P50:0.00} | {r.P90:0.00} | {r.P99:0.00} | {r.Errors} |");
    t.Open = r;
}
foreach (var t in targets)
{
    var r = await ClosedLoop(http, t, clients, TimeSpan.FromSeconds(seconds));
    rows.Add($"| closed loop x{clients} | {t.Name} | {r.Achieved:0} | {r.P50:0.00} | {r.P90:0.00} | {r.P99:0.00} | {r.Errors} |");
    t.Closed = r;
}

// The worker's two answers, alternating round by round so that the machine's noise falls on both alike.
var hop = new Dictionary<Target, List<double>> { [worker] = [], [workerFrame] = [] };
for (var round = 0; round < 3; round++)
{
    foreach (var t in hop.Keys)
    {
        hop[t].Add((await ClosedLoop(http, t, clients, TimeSpan.FromSeconds(Math.Max(2, seconds / 2)))).Achieved);
    }
}

Console.WriteLine();
Console.WriteLine("Worker answer, closed loop, alternating rounds (requests/s): " + string.Join("; ", hop.Select(h => $"{h.Key.Name.Trim()} {string.Join(" / ", h.Value.Select(v => v.ToString("0", CultureInfo.InvariantCulture)))}")));
Console.WriteLine($"Frame / JSON per round: {string.Join(" / ", hop[workerFrame].Zip(hop[worker], (f, j) => (f / j).ToString("0.00", CultureInfo.InvariantCulture)))}");
Console.WriteLine();
Console.WriteLine("| load | target | requests/s | p50 ms | p90 ms | p99 ms | errors |");
Console.WriteLine("|---|---|---|---|---|---|---|");
rows.ForEach(Console.WriteLine);
Console.WriteLine();
Console.WriteLine($"Pipeline overhead at {rps}/s: p50 +{api.Open!.P50 - worker.Open!.P50:0.00} ms, p99 +{api.Open.P99 - worker.Open.P99:0.00} ms");
Console.WriteLine($"Pipeline overhead at {rps}/s over 32 teams: p50 +{apiTeams.Open!.P50 - worker.Open.P50:0.00} ms, p99 +{apiTeams.Open.P99 - worker.Open.P99:0.00} ms");
Console.WriteLine($"Closed-loop throughput, api / worker: one team {api.Closed!.Achieved / worker.Closed!.Achieved:0.00}x, 32 teams {apiTeams.Closed!.Achieved / worker.Closed.Achieved:0.00}x");
Console.WriteLine();
foreach (var t in new[] { api, apiTeams })
{
    Console.WriteLine($"API Server-Timing per stage during the open-loop run, {t.Name.Trim()} (ms):");
    Console.WriteLine("| stage | p50 | p99 |");
    Console.WriteLine("|---|---|---|");
    foreach (var (stage, values) in t.Open!.Stages.OrderBy(s => s.Key))
    {
        values.Sort();
        Console.WriteLine($"| {stage} | {Percentile(values, 0.50):0.000} | {Percentile(values, 0.99):0.000} |");
    }
    Console.WriteLine();
}

static async Task<Result> OpenLoop(HttpClient http, Target target, int rps, TimeSpan duration)
{
    var total = (int)(rps * duration.TotalSeconds);
    var latencies = new double[total];
    var stages = new Dictionary<string, List<double>>();
    var errors = 0;
    var clock = Stopwatch.StartNew();
    var tasks = new List<Task>(total);
    for (var i = 0; i < total; i++)
    {
        var due = TimeSpan.FromSeconds((double)i / rps);
        var wait = due - clock.Elapsed;
        if (wait > TimeSpan.FromMilliseconds(1))
        {
            await Task.Delay(wait);
        }
        var index = i;
        tasks.Add(Task.Run(async () =>
        {
            var (ok, timing) = await target.SendAsync(http);
            latencies[index] = (clock.Elapsed - due).TotalMilliseconds;
            if (!ok)
            {
                Interlocked.Increment(ref errors);
            }
            if (timing is not null)
            {
                lock (stages)
                {
                    foreach (var (stage, ms) in timing)
                    {
                        (stages.TryGetValue(stage, out var list) ? list : stages[stage] = []).Add(ms);
                    }
                }
            }
        }));
    }
    await Task.WhenAll(tasks);
    var elapsed = clock.Elapsed.TotalSeconds;
    Array.Sort(latencies);
    return new Result(total / elapsed, Percentile(latencies, 0.5), Percentile(latencies, 0.9), Percentile(latencies, 0.99), errors, stages);
}

static async Task<Result> ClosedLoop(HttpClient http, Target target, int clients, TimeSpan duration)
{
    var latencies = new List<double>[clients];
    var errors = 0;
    var clock = Stopwatch.StartNew();
    await Task.WhenAll(Enumerable.Range(0, clients).Select(async c =>
    {
        var mine = latencies[c] = [];
        while (clock.Elapsed < duration)
        {
            var start = clock.Elapsed;
            var (ok, _) = await target.SendAsync(http);
            mine.Add((clock.Elapsed - start).TotalMilliseconds);
            if (!ok)
            {
                Interlocked.Increment(ref errors);
            }
        }
    }));
    var all = latencies.SelectMany(l => l).ToArray();
    Array.Sort(all);
    return new Result(all.Length / clock.Elapsed.TotalSeconds, Percentile(all, 0.5), Percentile(all, 0.9), Percentile(all, 0.99), errors, []);
}

static double Percentile(IReadOnlyList<double> sorted, double p) => sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, (int)(p * sorted.Count))];

sealed record Result(double Achieved, double P50, double P90, double P99, int Errors, Dictionary<string, List<double>> Stages);

sealed class Target(string name, Uri url, string body, string[] apiKeys, string? internalApiKey = null, string? accept = null)
{
    private readonly byte[] _body = Encoding.UTF8.GetBytes(body);
    private int _next;

    public string Name => name;
    public Result? Open { get; set; }
    public Result? Closed { get; set; }

    public async Task<(bool Ok, List<(string, double)>? Timing)> SendAsync(HttpClient http)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(_body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        if (internalApiKey is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", internalApiKey);
        }
        if (accept is not null)
        {
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(accept));
        }
        if (apiKeys.Length > 0)
        {
            request.Headers.Add("X-Api-Key", apiKeys[(int)((uint)Interlocked.Increment(ref _next) % apiKeys.Length)]);
        }
        try
        {
            using var response = await http.SendAsync(request);
            await response.Content.ReadAsByteArrayAsync();
            List<(string, double)>? timing = null;
            if (response.Headers.TryGetValues("Server-Timing", out var values))
            {
                timing = [];
                foreach (var entry in string.Join(",", values).Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
                {
                    var parts = entry.Split(";dur=");
                    timing.Add((parts[0], double.Parse(parts[1], CultureInfo.InvariantCulture)));
                }
            }
            return (response.IsSuccessStatusCode, timing);
        }
        catch (HttpRequestException)
        {
            return (false, null);
        }
    }
}
