using System.Diagnostics;

namespace Aurous.Bench.Gateway;

/// <summary>What one round of load did to one target.</summary>
/// <param name="Offered">The rate the schedule asked for (requests/s).</param>
/// <param name="Achieved">Successful responses per second, over the round from its first request to its last response.</param>
/// <param name="Ok">Successful (2xx) responses.</param>
/// <param name="Errors">Non-2xx answers and failed connections.</param>
/// <param name="Unsent">Scheduled requests not sent because the in-flight cap was reached (the target had fallen behind).</param>
/// <param name="Seconds">How long the round took, from its first request to its last response.</param>
public sealed record RoundResult(int Offered, double Achieved, int Ok, int Errors, int Unsent, double P50, double P90, double P99, double Seconds)
{
    public int Scheduled => Ok + Errors + Unsent;

    /// <summary>The target kept up: nearly the whole schedule was served and nothing had to be held back.</summary>
    public bool Sustained => Unsent == 0 && Errors == 0 && Achieved >= 0.95 * Offered;
}

/// <summary>
/// An open-loop load generator: requests go out on a fixed schedule whatever the target does, and a request's latency
/// is counted from its scheduled start, so time spent queueing (in the client's connection pool or at the server)
/// counts. A target that falls behind would collect an ever-growing backlog, so at most <c>maxInFlight</c> requests are
/// outstanding; a request due while the cap is reached is not sent and is counted as unsent.
/// </summary>
public static class OpenLoop
{
    public static async Task<RoundResult> RunAsync(HttpClient http, Target target, int rate, TimeSpan duration, int maxInFlight)
    {
        var total = Math.Max(1, (int)(rate * duration.TotalSeconds));
        var latencies = new double[total];
        var sent = new bool[total];
        var ok = new bool[total];
        var inFlight = 0;
        var unsent = 0;
        var pending = new List<Task>(total);
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < total; i++)
        {
            var due = TimeSpan.FromSeconds((double)i / rate);
            var wait = due - clock.Elapsed;
            if (wait > TimeSpan.FromMilliseconds(1))
            {
                await Task.Delay(wait);
            }
            if (Volatile.Read(ref inFlight) >= maxInFlight)
            {
                unsent++;
                continue;
            }
            Interlocked.Increment(ref inFlight);
            sent[i] = true;
            pending.Add(SendOne(i, due));
        }
        await Task.WhenAll(pending);
        var seconds = clock.Elapsed.TotalSeconds;

        var served = Enumerable.Range(0, total).Where(i => ok[i]).Select(i => latencies[i]).ToArray();
        Array.Sort(served);
        var errors = Enumerable.Range(0, total).Count(i => sent[i] && !ok[i]);
        return new RoundResult(rate, served.Length / seconds, served.Length, errors, unsent,
            Percentile(served, 0.50), Percentile(served, 0.90), Percentile(served, 0.99), seconds);

        async Task SendOne(int index, TimeSpan due)
        {
            await Task.Yield(); // the schedule loop moves on at once; the request is built and sent on the thread pool
            try
            {
                ok[index] = await target.SendAsync(http);
                latencies[index] = (clock.Elapsed - due).TotalMilliseconds;
            }
            finally
            {
                Interlocked.Decrement(ref inFlight);
            }
        }
    }

    private static double Percentile(double[] sorted, double p) => sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))];
}
