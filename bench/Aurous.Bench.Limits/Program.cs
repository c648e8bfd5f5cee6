using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using Aurous.Testing;
using StackExchange.Redis;

// What one request costs the gateway, per process, from /proc (user + system CPU) over a fixed number of requests:
// the API, Redis, and Postgres (the postmaster and every backend). Also Redis script calls per request (INFO
// commandstats). Targets alternate round by round in one run, so their ratios are comparable on a busy machine:
//   metered  POST /v1/embeddings "Hello world" (auth, RPM+TPM, hold, worker, capture)
//   estimate POST /v1/embeddings/estimate (auth, parse, the RPM unit taken as it ends; no Postgres, no worker)
// Usage: dotnet run -c Release --project bench/Aurous.Bench.Limits -- [requests per round=2000] [rounds=3] [clients=16]
var perRound = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 2000;
var rounds = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 3;
var clients = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 16;

await using var system = await AurousTestApp.StartAsync(only: ["api"]);
var (teamId, key) = await system.CreateTeamAsync(credits: 1_000_000m);
await system.SetLimitsAsync(teamId, rpm: 100_000_000, tpm: 1_000_000_000);
var api = await system.ProcessIdAsync("api");
var redisPid = await system.ProcessIdAsync("redis");
var postgres = await system.ProcessIdAsync("postgres");
await using var redis = await ConnectionMultiplexer.ConnectAsync(system.ConnectionString("redis") + ",allowAdmin=true");
var server = redis.GetServer(redis.GetEndPoints()[0]);

var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256, PooledConnectionLifetime = Timeout.InfiniteTimeSpan })
{
    BaseAddress = system.Endpoint("api"),
};
http.DefaultRequestHeaders.Add("X-Api-Key", key);
var body = Encoding.UTF8.GetBytes("""{"model":"aurous-embed-vision-1.0","input":"Hello world"}""");
string[] targets = ["/v1/embeddings", "/v1/embeddings/estimate"];
foreach (var path in targets)
{
    await RunAsync(path, 500); // warm-up: JIT, pools, caches
}

var totals = targets.ToDictionary(t => t, _ => new double[5]);
for (var round = 0; round < rounds; round++)
{
    foreach (var path in targets)
    {
        var before = (Api: TreeCpu(api), Redis: TreeCpu(redisPid), Postgres: TreeCpu(postgres), Scripts: await ScriptCallsAsync());
        var clock = Stopwatch.StartNew();
        var failed = await RunAsync(path, perRound);
        var seconds = clock.Elapsed.TotalSeconds;
        await Task.Delay(200); // background settlements land
        var t = totals[path];
        t[0] += TreeCpu(api) - before.Api;
        t[1] += TreeCpu(redisPid) - before.Redis;
        t[2] += TreeCpu(postgres) - before.Postgres;
        t[3] += await ScriptCallsAsync() - before.Scripts;
        t[4] += seconds;
        Console.WriteLine($"round {round + 1} {path}: {perRound / seconds:0} req/s, {failed} failed");
    }
}

Console.WriteLine();
Console.WriteLine($"Per request, {rounds} rounds of {perRound} ({clients} clients), ms of CPU:");
Console.WriteLine("| target | req/s | API | Redis | Postgres | gateway total | Redis script calls |");
Console.WriteLine("|---|---|---|---|---|---|---|");
foreach (var (path, t) in totals)
{
    var n = (double)perRound * rounds;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"| {path} | {n / t[4]:0} | {t[0] / n * 1000:0.000} | {t[1] / n * 1000:0.000} | {t[2] / n * 1000:0.000} | {(t[0] + t[1] + t[2]) / n * 1000:0.000} | {t[3] / n:0.00} |"));
}

async Task<int> RunAsync(string path, int count)
{
    var next = 0;
    var failed = 0;
    await Task.WhenAll(Enumerable.Range(0, clients).Select(async _ =>
    {
        while (Interlocked.Increment(ref next) <= count)
        {
            using var content = new ByteArrayContent(body);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            using var response = await http.PostAsync(path, content);
            await response.Content.ReadAsByteArrayAsync();
            if (!response.IsSuccessStatusCode)
            {
                Interlocked.Increment(ref failed);
            }
        }
    }));
    return failed;
}

async Task<long> ScriptCallsAsync()
{
    var stats = (await server.InfoAsync("commandstats")).SelectMany(g => g).ToDictionary(p => p.Key, p => p.Value);
    return new[] { "cmdstat_eval", "cmdstat_evalsha" }.Sum(name =>
        stats.TryGetValue(name, out var value) ? long.Parse(value.Split(',')[0]["calls=".Length..], CultureInfo.InvariantCulture) : 0);
}

// Seconds of user + system CPU of a process and its children: the live ones (Postgres backends; the API under its
// launcher) and those that ended (their time is in the parent's cumulative child time). Clock ticks of 1/100 s.
static double TreeCpu(int root)
{
    var total = Ticks(root, withEnded: true);
    foreach (var dir in Directory.EnumerateDirectories("/proc"))
    {
        if (int.TryParse(Path.GetFileName(dir), out var pid) && pid != root && ParentOf(pid) == root)
        {
            total += Ticks(pid, withEnded: false);
        }
    }
    return total / 100.0;
}

static string[] Stat(int pid)
{
    var stat = File.ReadAllText($"/proc/{pid}/stat");
    return stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
}

static int ParentOf(int pid)
{
    try
    {
        return int.Parse(Stat(pid)[1], CultureInfo.InvariantCulture);
    }
    catch (IOException)
    {
        return -1;
    }
}

static long Ticks(int pid, bool withEnded)
{
    try
    {
        return Stat(pid).Skip(11).Take(withEnded ? 4 : 2).Sum(f => long.Parse(f, CultureInfo.InvariantCulture));
    }
    catch (IOException)
    {
        return 0;
    }
}
