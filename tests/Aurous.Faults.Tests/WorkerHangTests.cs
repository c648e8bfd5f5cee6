using Aurous.Testing;
using System.Diagnostics;
using System.Text;
using Xunit.Abstractions;

namespace Aurous.Faults.Tests;

/// <summary>The worker frozen (SIGSTOP) with generations in flight: they end within the liveness bound, new ones fail at once.</summary>
[Collection(FaultCollection.Name)]
public sealed class WorkerHangTests(FaultSystem fixture, ITestOutputHelper output)
{
    /// <summary>The stated bound (docs/reliability.md): a hung worker fails its requests within 5 s.</summary>
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task A_hung_worker_fails_requests_in_flight_within_the_bound_answers_503_at_once_and_recovers()
    {
        var system = fixture.System;
        await system.EnsureHealthyAsync("inference-worker");
        var (teamId, key) = await system.CreateTeamAsync(credits: 200m);
        await system.SetLimitsAsync(teamId, rpm: 1_000_000, tpm: 100_000_000);
        using var http = system.CreateApiClient(key);
        using var workerHttp = new HttpClient { BaseAddress = system.Endpoint("inference-worker"), Timeout = TimeSpan.FromSeconds(10) };
        var log = new OutcomeLog();
        // Another team serves one embedding first, so the fast refusals below time the refusal, not the first compile
        // of the embeddings path (an earlier test in this collection may have restarted the API).
        var (_, warmKey) = await system.CreateTeamAsync(credits: 10m);
        using (var warm = system.CreateApiClient(warmKey))
        {
            (await new OutcomeLog().SendAsync(warm, OutcomeLog.Embedding)).Status.ShouldBe(200);
        }

        // Long generations in flight: synchronous ones and streams that have started.
        var inFlight = Enumerable.Range(0, 3).Select(_ => log.SendAsync(http, () => OutcomeLog.Chat(longAnswer: true))).ToList();
        var streams = new List<Task<(bool Error, TimeSpan EndedAt)>>();
        for (var i = 0; i < 2; i++)
        {
            streams.Add(await StartStreamAsync(http, log));
        }

        // A busy worker still answers /alive quickly: its Kestrel threads are not the decode loops.
        var alive = new List<TimeSpan>();
        for (var i = 0; i < 10; i++)
        {
            var ping = Stopwatch.StartNew();
            (await workerHttp.GetAsync("/alive")).EnsureSuccessStatusCode();
            alive.Add(ping.Elapsed);
            await Task.Delay(100);
        }
        alive.Max().ShouldBeLessThan(TimeSpan.FromSeconds(1));

        var worker = await system.ProcessIdAsync("inference-worker");
        TimeSpan stoppedAt, firstFast, thawedAt;
        Outcome[] ended;
        (bool Error, TimeSpan EndedAt)[] streamEnds;
        var fastOnes = new List<Outcome>();
        Signals.Stop(worker);
        stoppedAt = log.Now;
        try
        {
            ended = await Task.WhenAll(inFlight).WaitAsync(Bound + TimeSpan.FromSeconds(10));
            streamEnds = await Task.WhenAll(streams).WaitAsync(TimeSpan.FromSeconds(10));
            // New requests fail at once while it stays hung.
            firstFast = log.Now - stoppedAt;
            for (var i = 0; i < 5; i++)
            {
                fastOnes.Add(await log.SendAsync(http, () => OutcomeLog.Chat()));
                fastOnes.Add(await log.SendAsync(http, OutcomeLog.Embedding));
            }
        }
        finally
        {
            Signals.Continue(worker);
            thawedAt = log.Now;
        }

        ended.ShouldAllBe(o => o.Status == 503 && o.Code == "model_unavailable", OutcomeLog.Count(ended));
        var slowestEnd = ended.Max(o => o.StartedAt + o.Took) - stoppedAt;
        slowestEnd.ShouldBeLessThan(Bound);
        streamEnds.ShouldAllBe(s => s.Error);
        (streamEnds.Max(s => s.EndedAt) - stoppedAt).ShouldBeLessThan(Bound);
        fastOnes.ShouldAllBe(o => o.Status == 503 && o.Code == "model_unavailable" && o.RetryAfter != null);
        var slowestFast = fastOnes.Max(o => o.Took);
        slowestFast.ShouldBeLessThan(TimeSpan.FromSeconds(0.5));

        // Thawed, it serves again as soon as a liveness ping is answered.
        Outcome next;
        while ((next = await log.SendAsync(http, () => OutcomeLog.Chat())).Status != 200)
        {
            next.Status.ShouldBe(503);
            (log.Now - thawedAt).ShouldBeLessThan(TimeSpan.FromSeconds(10));
            await Task.Delay(100);
        }
        var recovered = log.Now - thawedAt;

        var books = await LedgerAudit.SettledAsync(system.Database, teamId);
        books.Charges.ShouldBe(1); // only the request after recovery: every failed one released its hold
        FaultSummary.Record(output, system, $"SIGSTOP worker: {ended.Length} sync + {streamEnds.Length} streamed generations in flight → all 503 model_unavailable / error event " +
            $"within {slowestEnd.TotalSeconds:0.0} s (bound {Bound.TotalSeconds:0} s); then {fastOnes.Count} new → 503 in ≤ {slowestFast.TotalMilliseconds:0} ms; " +
            $"/alive under load ≤ {alive.Max().TotalMilliseconds:0} ms; served again {recovered.TotalSeconds:0.0} s after SIGCONT; {books}");
    }

    /// <summary>Starts a long stream, waits for its first chunks, and returns a task that ends with whether it ended in an error event.</summary>
    private static async Task<Task<(bool Error, TimeSpan EndedAt)>> StartStreamAsync(HttpClient http, OutcomeLog log)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(OutcomeLog.LongChat(stream: true), Encoding.UTF8, "application/json") };
        var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        response.EnsureSuccessStatusCode();
        var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        for (var chunks = 0; chunks < 3;)
        {
            var line = await reader.ReadLineAsync() ?? throw new InvalidOperationException("the stream ended early");
            chunks += line.StartsWith("data: {", StringComparison.Ordinal) ? 1 : 0;
        }
        return Task.Run(async () =>
        {
            using (response)
            using (reader)
            {
                var rest = await reader.ReadToEndAsync();
                return (rest.Contains("\"model_unavailable\"", StringComparison.Ordinal) && !rest.Contains("[DONE]", StringComparison.Ordinal), log.Now);
            }
        });
    }
}
