using System.Diagnostics;
using System.Globalization;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aurous.Accounts;
using Aurous.Persistence;
using Aurous.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;

// The ledger alone, pgbench-style: C callers each run hold+capture pairs back to back for S seconds, (a) with the single
// statements of CreditHolds, (b) through the group-committed CreditCommitQueue, (c) the same queue over the API's data
// source settings (statements prepared); for 1 team and for 32 teams; rounds alternate the order of the modes. Prints
// pairs/s, p50/p99 per pair, Postgres CPU per pair (from /proc of this system's postgres processes) and this process's
// CPU per pair (the callers, the queue and the in-process Aspire host), then checks every team's books: no overdraft,
// ledger sum == balance, held == 0.
// Usage: dotnet run -c Release --project bench/Aurous.Bench.Ledger -- [seconds=5] [callers=32] [rounds=2] [modes=single,queue,prepared]
var seconds = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 5;
var callers = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 32;
var rounds = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 2;
const decimal Price = 0.000001m;

Console.WriteLine($"Booting Postgres and the migrations ... {callers} callers, {seconds} s per run, {rounds} rounds");
await using var system = await AurousTestApp.StartAsync(only: ["migrations"]);
await system.App.Services.GetRequiredService<ResourceNotificationService>().WaitForResourceAsync("migrations",
    e => e.Snapshot.State?.Text is "Finished" or "Exited", new CancellationTokenSource(TimeSpan.FromMinutes(2)).Token);
var db = new NpgsqlDataSourceBuilder(system.ConnectionString("postgres")) { ConnectionStringBuilder = { MaxPoolSize = callers * 2 + 8 } }.Build();
var holds = new CreditHolds(db);
await using var queue = new CreditCommitQueue(db, holds, Options.Create(new CreditCommitOptions()), NullLogger<CreditCommitQueue>.Instance);
// The API's own data source settings (AccountsDataSource): auto-prepared statements, pooled connections not reset.
var preparedBuilder = new NpgsqlDataSourceBuilder(system.ConnectionString("postgres")) { ConnectionStringBuilder = { MaxPoolSize = callers * 2 + 8 } };
AccountsDataSource.Configure(preparedBuilder.ConnectionStringBuilder);
var preparedDb = preparedBuilder.Build();
await using var preparedQueue = new CreditCommitQueue(preparedDb, new CreditHolds(preparedDb), Options.Create(new CreditCommitOptions()), NullLogger<CreditCommitQueue>.Instance);
var postgres = PostgresProcesses(system.Settings.HomeDirectory);
Console.WriteLine($"Postgres processes watched: {postgres.Count}");

var grant = 1_000_000m;
var teams = new List<string>();
for (var i = 0; i < 33 * 3; i++)
{
    teams.Add((await system.CreateTeamAsync(credits: grant)).TeamId);
}
// Each mode has its own teams, so each mode's books are checked on their own.
var teamSets = new Dictionary<(string Mode, int Teams), string[]>
{
    [("single", 1)] = [teams[0]], [("queue", 1)] = [teams[1]],
    [("single", 32)] = teams.Skip(2).Take(32).ToArray(), [("queue", 32)] = teams.Skip(34).Take(32).ToArray(),
    [("prepared", 1)] = [teams[66]], [("prepared", 32)] = teams.Skip(67).Take(32).ToArray(),
};
var charged = teamSets.Values.SelectMany(t => t).ToDictionary(t => t, _ => 0L);

Func<string, Task<bool>> Pair(string mode) => mode == "single"
    ? async team =>
    {
        var request = Ulid.NewId("req");
        var hold = await holds.TryPlaceAsync(team, request, "embeddings", "bench", Price);
        return hold is not null && await holds.CaptureAsync(Capture(hold, team, request)) is not null;
    }
    : async team =>
    {
        var q = mode == "queue" ? queue : preparedQueue;
        var request = Ulid.NewId("req");
        var hold = await q.TryPlaceAsync(team, request, "embeddings", "bench", Price);
        return hold is not null && await q.CaptureAsync(Capture(hold, team, request)) is not null;
    };

string[] modes = args.Length > 3 ? args[3].Split(',') : ["single", "queue", "prepared"];
foreach (var mode in modes)
{
    await Run(mode, 32, TimeSpan.FromSeconds(1)); // warm-up: JIT, pools, prepared plans
}
var results = new List<(int Round, string Mode, int Teams, double PairsPerSecond, double P50, double P99, double CpuMs)>();
Console.WriteLine($"{"round",5} {"teams",5} {"mode",-7} {"pairs/s",9} {"p50 ms",8} {"p99 ms",8} {"pg cpu ms/pair",15} {"caller cpu ms/pair",19}");
for (var round = 1; round <= rounds; round++)
{
    foreach (var teamCount in new[] { 1, 32 })
    {
        var order = round % 2 == 1 ? modes : modes.Reverse().ToArray();
        foreach (var mode in order)
        {
            var r = await Run(mode, teamCount, TimeSpan.FromSeconds(seconds));
            results.Add((round, mode, teamCount, r.PairsPerSecond, r.P50, r.P99, r.CpuMs));
            Console.WriteLine($"{round,5} {teamCount,5} {mode,-7} {r.PairsPerSecond,9:0} {r.P50,8:0.00} {r.P99,8:0.00} {r.CpuMs,15:0.000} {r.CallerCpuMs,19:0.000}");
        }
    }
}
// The ratios compare the three modes, so they are printed only when all three ran.
var allModes = new[] { "single", "queue", "prepared" }.All(modes.Contains);
foreach (var teamCount in allModes ? new[] { 1, 32 } : [])
{
    double Median(string mode, Func<(int Round, string Mode, int Teams, double PairsPerSecond, double P50, double P99, double CpuMs), double> f) =>
        results.Where(r => r.Mode == mode && r.Teams == teamCount).Select(f).Order().ElementAt(rounds / 2);
    Console.WriteLine($"{teamCount,2} team(s), queue / single (medians): pairs/s x{Median("queue", r => r.PairsPerSecond) / Median("single", r => r.PairsPerSecond):0.00}, " +
        $"p50 x{Median("queue", r => r.P50) / Median("single", r => r.P50):0.00}, pg cpu/pair x{Median("queue", r => r.CpuMs) / Median("single", r => r.CpuMs):0.00}; " +
        $"prepared / queue: pairs/s x{Median("prepared", r => r.PairsPerSecond) / Median("queue", r => r.PairsPerSecond):0.00}, pg cpu/pair x{Median("prepared", r => r.CpuMs) / Median("queue", r => r.CpuMs):0.00}");
}

var ok = true;
foreach (var (team, pairs) in charged)
{
    await using var cmd = db.CreateCommand("""
        SELECT b.credits, b.held, (SELECT sum(amount) FROM ledger_entries WHERE team_id = $1),
               (SELECT count(*) FROM usage_receipts WHERE team_id = $1), (SELECT count(*) FROM credit_holds WHERE team_id = $1 AND state = 'held')
        FROM team_balances b WHERE b.team_id = $1
        """);
    cmd.Parameters.Add(new NpgsqlParameter { Value = team });
    await using var r = await cmd.ExecuteReaderAsync();
    await r.ReadAsync();
    var (credits, held, ledger, receipts, open) = (r.GetDecimal(0), r.GetDecimal(1), r.GetDecimal(2), r.GetInt64(3), r.GetInt64(4));
    if (credits != ledger || held != 0 || open != 0 || credits - held < 0 || receipts != pairs || credits != grant - pairs * Price)
    {
        ok = false;
        Console.WriteLine($"BOOKS WRONG for {team}: credits {credits}, ledger {ledger}, held {held}, open holds {open}, receipts {receipts}, pairs {pairs}");
    }
}
Console.WriteLine(ok ? $"Books: every team reconciles (no overdraft, ledger sum == balance, held == 0, one receipt per pair; {charged.Values.Sum()} pairs)" : "Books: MISMATCH");
return ok ? 0 : 1;

async Task<(double PairsPerSecond, double P50, double P99, double CpuMs, double CallerCpuMs)> Run(string mode, int teamCount, TimeSpan length)
{
    var set = teamSets[(mode, teamCount)];
    var pair = Pair(mode);
    var latencies = new List<double>[callers];
    var cpuBefore = CpuTicks(postgres);
    var ownBefore = Process.GetCurrentProcess().TotalProcessorTime;
    var clock = Stopwatch.StartNew();
    await Task.WhenAll(Enumerable.Range(0, callers).Select(c => Task.Run(async () =>
    {
        var mine = latencies[c] = [];
        var team = set[c % set.Length];
        while (clock.Elapsed < length)
        {
            var started = Stopwatch.GetTimestamp();
            if (!await pair(team))
            {
                throw new InvalidOperationException($"A pair was refused or not charged for {team}: the grant should cover the whole run.");
            }
            mine.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
        lock (charged)
        {
            charged[team] += mine.Count;
        }
    })));
    var elapsed = clock.Elapsed.TotalSeconds;
    var cpuTicks = CpuTicks(postgres) - cpuBefore;
    var ownMs = (Process.GetCurrentProcess().TotalProcessorTime - ownBefore).TotalMilliseconds;
    var all = latencies.SelectMany(l => l).Order().ToArray();
    return (all.Length / elapsed, all[all.Length / 2], all[(int)(all.Length * 0.99)], cpuTicks * 10.0 / all.Length, ownMs / all.Length);
}

static Capture Capture(string hold, string team, string request) => new(hold, team, request, "key_bench", "embeddings", "bench", Price,
    """{"input":{"text":2}}""", """{"input":{"text":0.04}}""", """{"input":{"text":0.000001}}""", null);

// The postmaster whose data folder is under this system's home, and its children (backends, WAL writer, checkpointer).
static List<int> PostgresProcesses(string home)
{
    var pids = Directory.GetDirectories("/proc").Select(d => int.TryParse(Path.GetFileName(d), out var p) ? p : 0).Where(p => p > 0).ToArray();
    var master = pids.FirstOrDefault(p => Read($"/proc/{p}/cmdline").Replace('\0', ' ') is var cmd && cmd.Contains("postgres", StringComparison.Ordinal) && cmd.Contains(home, StringComparison.Ordinal) && cmd.Contains("-D", StringComparison.Ordinal));
    if (master == 0)
    {
        Console.WriteLine("Postgres's postmaster was not found under /proc: CPU per pair will read 0.");
        return [];
    }
    return [master];
}

// utime + stime (clock ticks of 10 ms) of the postmaster and of every process whose parent it is, as they are now.
static long CpuTicks(List<int> masters)
{
    long ticks = 0;
    foreach (var dir in Directory.GetDirectories("/proc"))
    {
        if (!int.TryParse(Path.GetFileName(dir), out var pid))
        {
            continue;
        }
        var stat = Read($"/proc/{pid}/stat");
        var fields = stat.Length == 0 ? [] : stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        if (fields.Length > 12 && (masters.Contains(pid) || masters.Contains(int.Parse(fields[1], CultureInfo.InvariantCulture))))
        {
            ticks += long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        }
    }
    return ticks;
}

static string Read(string path)
{
    try
    {
        return File.ReadAllText(path);
    }
    catch (IOException)
    {
        return "";
    }
    catch (UnauthorizedAccessException)
    {
        return "";
    }
}
