using System.Diagnostics;
using System.Text;

/// <summary>
/// The worker's step-level batched decode (one decoder run per step for every generation) against one decode loop per
/// request (the <c>Aurous-Decode: alone</c> header), in one process, alternating which goes first round by round:
/// completion tokens/s at 1, 8 and 32 closed-loop streams (max_tokens 64, ignore_eos), and the first delta of short
/// requests (max_tokens 8) sent one after another while 16 long generations run.
/// </summary>
static class DecodeAb
{
    private const int LongCount = 16;

    public static async Task<string> RunAsync(Client client, double seconds, int rounds)
    {
        var report = new StringBuilder();
        void Line(string s = "")
        {
            Console.WriteLine(s);
            report.AppendLine(s);
        }

        Line();
        Line($"### Batched decode vs one loop per request: completion tokens/s, worker direct, max_tokens 64, ignore_eos, {seconds:0} s per cell, median of {rounds} alternating rounds");
        Line();
        Line("| streams | one loop per request | batched | batched / per request | each round's ratio |");
        Line("|---|---|---|---|---|");
        foreach (var streams in new[] { 1, 8, 32 })
        {
            var alone = new List<double>();
            var batched = new List<double>();
            for (var round = 0; round < rounds; round++)
            {
                foreach (var decodeAlone in round % 2 == 0 ? new[] { true, false } : [false, true])
                {
                    var rate = await TokensPerSecond(client, streams, seconds, decodeAlone);
                    (decodeAlone ? alone : batched).Add(rate);
                }
            }
            var ratios = string.Join(", ", alone.Zip(batched, (a, b) => $"{b / a:0.00}x"));
            Line($"| {streams} | {Median(alone):N0} tok/s | {Median(batched):N0} tok/s | **{Median(batched) / Median(alone):0.00}x** | {ratios} |");
        }

        Line();
        Line($"### First delta of short requests (max_tokens 8, one after another) while {LongCount} long generations run (ignore_eos, max_tokens 4000), {seconds:0} s per cell");
        Line();
        Line("| decode | round | shorts | first delta p50 / p99 ms | full p50 / p99 ms | long tokens/s (all {0}) |".Replace("{0}", LongCount.ToString()));
        Line("|---|---|---|---|---|---|");
        for (var round = 0; round < Math.Min(rounds, 2); round++)
        {
            foreach (var decodeAlone in round % 2 == 0 ? new[] { true, false } : [false, true])
            {
                var (first, full, count, longRate) = await ShortsWhileLongs(client, seconds, decodeAlone);
                Line($"| {(decodeAlone ? "one loop per request" : "batched")} | {round + 1} | {count} | {P(first, .5):0.00} / {P(first, .99):0.00} | {P(full, .5):0.00} / {P(full, .99):0.00} | {longRate:N0} |");
            }
        }
        return report.ToString();
    }

    private static async Task<double> TokensPerSecond(Client client, int streams, double seconds, bool decodeAlone)
    {
        var tokens = 0L;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, streams).Select(async _ =>
        {
            while (clock.Elapsed.TotalSeconds < seconds)
            {
                var run = await client.WorkerAsync(64, ignoreEos: true, decodeAlone: decodeAlone);
                if (run.Ok)
                {
                    Interlocked.Add(ref tokens, run.Tokens);
                }
            }
        }));
        return tokens / clock.Elapsed.TotalSeconds;
    }

    private static async Task<(double[] First, double[] Full, int Count, double LongRate)> ShortsWhileLongs(Client client, double seconds, bool decodeAlone)
    {
        using var stop = new CancellationTokenSource();
        var started = Enumerable.Range(0, LongCount).Select(_ => new TaskCompletionSource()).ToArray();
        var longs = Enumerable.Range(0, LongCount)
            .Select(i => client.WorkerAsync(4000, ignoreEos: true, stop.Token, () => started[i].TrySetResult(), decodeAlone)).ToArray();
        await Task.WhenAny(Task.WhenAll(started.Select(t => t.Task)), Task.Delay(TimeSpan.FromSeconds(30)));
        var shorts = new List<Run>();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed.TotalSeconds < seconds && !longs.Any(l => l.IsCompleted))
        {
            shorts.Add(await client.WorkerAsync(8, ignoreEos: true, decodeAlone: decodeAlone));
        }
        await stop.CancelAsync();
        var longRuns = await Task.WhenAll(longs);
        var ok = shorts.Where(r => r.Ok).ToList();
        return (Sorted(ok.Where(r => r.FirstMs is not null).Select(r => r.FirstMs!.Value)), Sorted(ok.Select(r => r.TotalMs)), ok.Count,
            longRuns.Where(r => r.TotalMs > 0).Sum(r => r.Tokens / (r.TotalMs / 1000)));
    }

    private static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);

    private static double[] Sorted(IEnumerable<double> values) => [.. values.Order()];

    private static double P(double[] sorted, double p) => sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))];
}
