using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Aurous.Testing;

namespace Aurous.EndToEnd.Tests;

/// <summary>The worker is killed (SIGKILL) during a burst of paid requests, then started again.</summary>
[Collection(WorkerOutageCollection.Name)]
public sealed class WorkerOutageTests(WorkerOutageFixture fixture)
{
    private const string Embedding = """{"model":"aurous-embed-vision-1.0","input":"The quick brown fox jumps over the lazy dog."}""";

    [Fact]
    public async Task A_killed_worker_means_fast_503s_no_stranded_holds_and_recovery_after_a_restart()
    {
        var system = fixture.System;
        await system.EnsureHealthyAsync("inference-worker");
        var (teamId, key) = await system.CreateTeamAsync(credits: 50m);
        await system.SetLimitsAsync(teamId, rpm: 1_000_000, tpm: 100_000_000); // this test is about the worker, not about limits
        using var http = system.CreateApiClient(key);
        (await PostAsync(http)).Status.ShouldBe(HttpStatusCode.OK);

        // A burst from 16 clients; the worker dies in the middle of it.
        using var stop = new CancellationTokenSource();
        var outcomes = new System.Collections.Concurrent.ConcurrentBag<(HttpStatusCode Status, string? Code, TimeSpan Took, bool AfterKill)>();
        var killedAt = long.MaxValue;
        var burst = Enumerable.Range(0, 16).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var started = Stopwatch.GetTimestamp();
                var (status, code) = await PostAsync(http);
                outcomes.Add((status, code, Stopwatch.GetElapsedTime(started), started > Interlocked.Read(ref killedAt)));
            }
        })).ToArray();
        await Task.Delay(TimeSpan.FromSeconds(1));
        var worker = Process.GetProcessById(await system.ProcessIdAsync("inference-worker"));
        worker.Kill(entireProcessTree: true);
        await worker.WaitForExitAsync();
        // Requests that were already running when it died may have been answered; every one sent after must fail fast.
        Interlocked.Exchange(ref killedAt, Stopwatch.GetTimestamp());
        await Task.Delay(TimeSpan.FromSeconds(3));
        await stop.CancelAsync();
        await Task.WhenAll(burst);

        // Every request sent after the kill is a clear 503 model_unavailable within 2 s; none fails any other way.
        var afterKill = outcomes.Where(o => o.AfterKill).ToArray();
        afterKill.Length.ShouldBeGreaterThan(16);
        afterKill.ShouldAllBe(o => o.Status == HttpStatusCode.ServiceUnavailable && o.Code == "model_unavailable");
        afterKill.Max(o => o.Took).ShouldBeLessThan(TimeSpan.FromSeconds(2));
        outcomes.ShouldAllBe(o => o.Status == HttpStatusCode.OK || o.Status == HttpStatusCode.ServiceUnavailable);

        // No request's hold is left open, and exactly the successful requests were charged. The burst was served from
        // the instance's credit lease, which closes once the team is quiet: then nothing at all is held.
        await using (var holds = system.Database.CreateCommand("SELECT count(*) FROM credit_holds WHERE team_id = @t AND state = 'held' AND NOT lease"))
        {
            holds.Parameters.AddWithValue("t", teamId);
            ((long)(await holds.ExecuteScalarAsync())!).ShouldBe(0);
        }
        (await Aurous.Testing.LedgerAudit.SettledAsync(system.Database, teamId)).Held.ShouldBe(0m);
        await using (var receipts = system.Database.CreateCommand("SELECT count(*) FROM usage_receipts WHERE team_id = @t"))
        {
            receipts.Parameters.AddWithValue("t", teamId);
            ((long)(await receipts.ExecuteScalarAsync())!).ShouldBe(outcomes.Count(o => o.Status == HttpStatusCode.OK) + 1);
        }

        // The rest stays up: the API still serves what needs no model.
        (await http.GetAsync("/v1/balance")).StatusCode.ShouldBe(HttpStatusCode.OK);

        // Started again, the worker serves the same API without the API being touched: the API sees it back at its
        // next liveness ping (every second by default), answering model_unavailable until then.
        await system.EnsureHealthyAsync("inference-worker");
        var back = System.Diagnostics.Stopwatch.StartNew();
        var (status, code) = await PostAsync(http);
        while (status != HttpStatusCode.OK && back.Elapsed < TimeSpan.FromSeconds(5))
        {
            (status, code).ShouldBe((HttpStatusCode.ServiceUnavailable, "model_unavailable"));
            await Task.Delay(100);
            (status, code) = await PostAsync(http);
        }
        status.ShouldBe(HttpStatusCode.OK, $"the API still answered {code} {back.Elapsed.TotalSeconds:0.0} s after the worker was healthy again");
    }

    private static async Task<(HttpStatusCode Status, string? Code)> PostAsync(HttpClient http)
    {
        using var response = await http.PostAsync("/v1/embeddings", new StringContent(Embedding, Encoding.UTF8, "application/json"));
        if (response.IsSuccessStatusCode)
        {
            return (response.StatusCode, null);
        }
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        return (response.StatusCode, body.GetProperty("error").GetProperty("code").GetString());
    }
}
