using Aurous.Testing;
using System.Diagnostics;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Aurous.Faults.Tests;

/// <summary>kill -9 of the inference worker during a burst of paid requests; the worker is then started again.</summary>
[Collection(FaultCollection.Name)]
public sealed class WorkerKillTests(FaultSystem fixture, ITestOutputHelper output)
{
    [Fact]
    public async Task A_worker_killed_during_a_burst_means_200_or_fast_503s_and_books_that_reconcile()
    {
        var system = fixture.System;
        await system.EnsureHealthyAsync("inference-worker");
        var (teamId, key) = await system.CreateTeamAsync(credits: 100m);
        await system.SetLimitsAsync(teamId, rpm: 1_000_000, tpm: 100_000_000);
        using var http = system.CreateApiClient(key);
        var log = new OutcomeLog();
        (await log.SendAsync(http, OutcomeLog.Embedding)).Status.ShouldBe(200);
        log.All.Clear();

        var total = FaultScale.Pick(fast: 30, full: 50);
        var sent = 0;
        var killAt = total / 3;
        var killed = new TaskCompletionSource<TimeSpan>(TaskCreationOptions.RunContinuationsAsynchronously);
        var worker = Process.GetProcessById(await system.ProcessIdAsync("inference-worker"));
        var clients = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            while (Interlocked.Increment(ref sent) is var n && n <= total)
            {
                if (n == killAt)
                {
                    worker.Kill(entireProcessTree: true);
                    await worker.WaitForExitAsync();
                    killed.SetResult(log.Now);
                }
                await log.SendAsync(http, OutcomeLog.Embedding);
            }
        })).ToArray();
        using (var bound = new CancellationTokenSource(TimeSpan.FromSeconds(60)))
        {
            await Task.WhenAll(clients).WaitAsync(bound.Token);
        }
        var killedAt = await killed.Task;

        var outcomes = log.All.ToArray();
        outcomes.Length.ShouldBe(total);
        outcomes.ShouldAllBe(o => o.Status == 200 || (o.Status == 503 && o.Code == "model_unavailable"), OutcomeLog.Count(outcomes));
        var after = outcomes.Where(o => o.StartedAt > killedAt).ToArray();
        after.ShouldNotBeEmpty();
        after.ShouldAllBe(o => o.Status == 503 && o.RetryAfter != null);
        var slowest503 = outcomes.Where(o => o.Status == 503).Max(o => o.Took);
        slowest503.ShouldBeLessThan(TimeSpan.FromSeconds(2));

        // The orchestrator notices the exit; started again, the worker serves the same API, which was not touched.
        using (var exited = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            await system.App.Services.GetRequiredService<ResourceNotificationService>().WaitForResourceAsync("inference-worker",
                e => e.Snapshot.State?.Text is "Exited" or "Finished" or "FailedToStart", exited.Token);
        }
        var restart = Stopwatch.StartNew();
        await system.EnsureHealthyAsync("inference-worker");
        while ((await log.SendAsync(http, OutcomeLog.Embedding)).Status != 200)
        {
            restart.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(90));
            await Task.Delay(100);
        }
        var recovered = restart.Elapsed;

        var books = await LedgerAudit.SettledAsync(system.Database, teamId);
        books.Receipts.ShouldBe(outcomes.Count(o => o.Status == 200) + 2);
        FaultSummary.Record(output, system, $"kill -9 worker: {total} requests → {OutcomeLog.Count(outcomes)} (slowest 503 {slowest503.TotalSeconds:0.00} s), " +
            $"worker restarted and serving in {recovered.TotalSeconds:0.0} s; {books}");
    }
}
