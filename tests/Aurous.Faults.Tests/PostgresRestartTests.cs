using Aurous.Testing;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aurous.Accounts;
using Aurous.Api.Pipeline;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit.Abstractions;

namespace Aurous.Faults.Tests;

/// <summary>Postgres restarted under steady paid traffic: 503s (never 500s) during the outage, recovery within 5 s, books intact.</summary>
[Collection(FaultCollection.Name)]
public sealed class PostgresRestartTests(FaultSystem fixture, ITestOutputHelper output)
{
    /// <summary>The stated bound (docs/reliability.md): serving again within 5 s of Postgres accepting connections.</summary>
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task A_postgres_restart_means_503s_not_500s_recovery_within_five_seconds_and_nothing_lost()
    {
        var system = fixture.System;
        await system.EnsureHealthyAsync("inference-worker");
        await system.EnsureHealthyAsync("postgres");
        var (teamId, key) = await system.CreateTeamAsync(credits: 100m);
        await system.SetLimitsAsync(teamId, rpm: 1_000_000, tpm: 100_000_000);
        using var http = system.CreateApiClient(key);
        var log = new OutcomeLog();
        (await log.SendAsync(http, OutcomeLog.Embedding)).Status.ShouldBe(200);

        using var stop = new CancellationTokenSource();
        var clients = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await log.SendAsync(http, OutcomeLog.Embedding);
                await Task.Delay(20);
            }
        })).ToArray();
        await Task.Delay(TimeSpan.FromSeconds(1));

        var restartAt = log.Now;
        await StopPostgresAsync(system);
        await StartPostgresAsync(system);
        var upAt = log.Now;
        // The test's own pool lost its connections too.
        system.Database.Clear();

        // Serving again: the first 200 that started after Postgres was back.
        while (!log.All.Any(o => o.Status == 200 && o.StartedAt >= upAt) && log.Now - upAt < Bound + TimeSpan.FromSeconds(10))
        {
            await Task.Delay(50);
        }
        await Task.Delay(TimeSpan.FromSeconds(1));
        await stop.CancelAsync();
        await Task.WhenAll(clients).WaitAsync(TimeSpan.FromSeconds(60));

        var outcomes = log.All.ToArray();
        var during = outcomes.Where(o => o.StartedAt + o.Took >= restartAt).ToArray();
        outcomes.ShouldAllBe(o => o.Status == 200 || (o.Status == 503 && o.RetryAfter != null), OutcomeLog.Count(outcomes));
        var firstOk = outcomes.Where(o => o.Status == 200 && o.StartedAt >= upAt).Min(o => (TimeSpan?)o.StartedAt + o.Took);
        firstOk.ShouldNotBeNull("no request succeeded after the restart");
        var recovered = firstOk.Value - upAt;
        recovered.ShouldBeLessThan(Bound);
        // After recovery nothing fails any more.
        outcomes.Where(o => o.StartedAt > firstOk.Value).ShouldAllBe(o => o.Status == 200);

        var books = await LedgerAudit.SettledAsync(system.Database, teamId);
        books.Receipts.ShouldBe(outcomes.Count(o => o.Status == 200));
        FaultSummary.Record(output, system, $"restart postgres: {during.Length} requests across it → {OutcomeLog.Count(during)}; postgres down (fast shutdown) and back in {(upAt - restartAt).TotalSeconds:0.0} s, " +
            $"API serving {recovered.TotalSeconds:0.0} s later; {books}");
    }

    [Fact]
    public async Task A_hold_left_open_by_a_request_that_ended_during_an_outage_is_released_once_postgres_is_back()
    {
        var system = fixture.System;
        await system.EnsureHealthyAsync("postgres");
        var (teamId, _) = await system.CreateTeamAsync(credits: 10m);
        var holds = new CreditHolds(system.Database);
        // What a request leaves behind when Postgres goes away before it can release its hold.
        var requestId = Persistence.Ulid.NewId("req");
        (await holds.TryPlaceAsync(teamId, requestId, "embeddings", "aurous-embed-vision-1.0", 1m)).ShouldNotBeNull();
        // Holds commit asynchronously; a synchronous commit after it makes it durable before the server goes down.
        await using (var flush = system.Database.CreateCommand("UPDATE ledger_entries SET description = description WHERE team_id = @t"))
        {
            flush.Parameters.AddWithValue("t", teamId);
            await flush.ExecuteNonQueryAsync();
        }
        (await LedgerAudit.RunAsync(system.Database, teamId, allowOpenHolds: true)).OpenHoldCount.ShouldBe(1);
        using var orphans = new OrphanedHolds(system.Database, holds, NullLogger<OrphanedHolds>.Instance);
        await orphans.StartAsync(CancellationToken.None);

        await StopPostgresAsync(system);
        try
        {
            orphans.Check(requestId);
            await Task.Delay(TimeSpan.FromSeconds(3)); // it keeps trying meanwhile
        }
        finally
        {
            await StartPostgresAsync(system);
        }
        var upAt = System.Diagnostics.Stopwatch.StartNew();
        system.Database.Clear();

        var books = await LedgerAudit.SettledAsync(system.Database, teamId, Bound);
        var released = upAt.Elapsed;
        await orphans.StopAsync(CancellationToken.None);
        books.Credits.ShouldBe(10m);
        FaultSummary.Record(output, system, $"stop/start postgres with an orphaned hold queued: released {released.TotalSeconds:0.0} s after postgres was back; {books}");
    }

    /// <summary>
    /// A fast shutdown (SIGINT), as a managed server's restart does: it ends every session and stops at once. (Aspire's
    /// stop sends SIGTERM, Postgres' smart shutdown, which waits for every pooled client to disconnect.)
    /// </summary>
    private static async Task StopPostgresAsync(Aurous.Testing.AurousTestApp system)
    {
        Signals.Interrupt(await system.ProcessIdAsync("postgres"));
        using var exited = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await system.App.Services.GetRequiredService<ResourceNotificationService>().WaitForResourceAsync("postgres",
            e => e.Snapshot.State?.Text is "Exited" or "Finished" or "FailedToStart", exited.Token);
    }

    /// <summary>Starts Postgres again through Aspire's resource commands and waits until it is healthy.</summary>
    private static async Task StartPostgresAsync(Aurous.Testing.AurousTestApp system)
    {
        var started = await system.App.Services.GetRequiredService<ResourceCommandService>().ExecuteCommandAsync("postgres", KnownResourceCommands.StartCommand);
        started.Success.ShouldBeTrue(started.Message);
        using var healthy = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await system.App.Services.GetRequiredService<ResourceNotificationService>().WaitForResourceHealthyAsync("postgres", healthy.Token);
    }
}
