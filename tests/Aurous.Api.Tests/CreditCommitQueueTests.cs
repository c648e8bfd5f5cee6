using Aurous.Accounts;
using Aurous.Persistence;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Aurous.Api.Tests;

/// <summary>
/// The ledger's group commit against the test system's real Postgres: many parallel hold+capture pairs share batches,
/// and the books come out exactly as the single statements would leave them.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class CreditCommitQueueTests(ApiFixture fixture) : IAsyncLifetime
{
    private const decimal Price = 0.01m;
    private CreditCommitQueue _queue = null!;

    private NpgsqlDataSource Db => fixture.System.Database;

    public Task InitializeAsync()
    {
        _queue = NewQueue();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _queue.DisposeAsync();

    private CreditCommitQueue NewQueue() =>
        new(Db, new CreditHolds(Db), Options.Create(new CreditCommitOptions()), NullLogger<CreditCommitQueue>.Instance);

    private static Capture CaptureOf(string holdId, string teamId, string requestId, decimal amount) =>
        new(holdId, teamId, requestId, "key_test", "embeddings", "aurous-embed-vision-1.0", amount,
            """{"input":{"text":2}}""", """{"input":{"text":0.04}}""", """{"input":{"text":0.01}}""", null);

    /// <summary>One request: a hold of <see cref="Price"/>, then a capture of all of it. The receipt id, or null when refused.</summary>
    private async Task<string?> PairAsync(CreditCommitQueue queue, string teamId)
    {
        var requestId = Ulid.NewId("req");
        var hold = await queue.TryPlaceAsync(teamId, requestId, "embeddings", "aurous-embed-vision-1.0", Price);
        return hold is null ? null : (await queue.CaptureAsync(CaptureOf(hold, teamId, requestId, Price))).ShouldNotBeNull();
    }

    [Fact]
    public async Task A_thousand_parallel_pairs_over_a_balance_for_37_capture_exactly_37()
    {
        var (teamId, _) = await fixture.System.CreateTeamAsync(credits: 37 * Price);

        var receipts = await Task.WhenAll(Enumerable.Range(0, 1000).Select(_ => Task.Run(() => PairAsync(_queue, teamId))));

        receipts.Count(r => r is not null).ShouldBe(37);
        receipts.Where(r => r is not null).Distinct().Count().ShouldBe(37, "one receipt per charge");
        var balance = await new Accounts.Ledger(Db).GetBalanceAsync(teamId);
        balance.Credits.ShouldBe(0m);
        balance.HeldCredits.ShouldBe(0m);
        await Ledger.ShouldReconcileAsync(Db, teamId, expectedReceipts: 37);
    }

    [Fact]
    public async Task Rows_of_an_unknown_team_are_never_written_by_a_grant_a_hold_or_a_capture()
    {
        // The ledger's rows take their team from the team's balance row, so a team that does not exist gets nothing.
        var ghost = Ulid.NewId("team");
        var grant = () => new Accounts.Ledger(Db).GrantAsync(ghost, 5m, "grant", "to nobody", createdBy: null);
        (await Should.ThrowAsync<InvalidOperationException>(grant)).Message.ShouldContain(ghost);

        var requestId = Ulid.NewId("req");
        (await _queue.TryPlaceAsync(ghost, requestId, "embeddings", "aurous-embed-vision-1.0", Price)).ShouldBeNull();
        (await new CreditHolds(Db).TryPlaceAsync(ghost, requestId, "embeddings", "aurous-embed-vision-1.0", Price)).ShouldBeNull();
        (await _queue.CaptureAsync(CaptureOf(Ulid.NewId("hold"), ghost, requestId, Price))).ShouldBeNull();

        await using var conn = await Db.OpenConnectionAsync();
        await using var count = new NpgsqlCommand("""
            SELECT (SELECT count(*) FROM ledger_entries WHERE team_id = $1) + (SELECT count(*) FROM credit_holds WHERE team_id = $1)
                 + (SELECT count(*) FROM usage_receipts WHERE team_id = $1)
            """, conn) { Parameters = { new() { Value = ghost } } };
        ((long)(await count.ExecuteScalarAsync())!).ShouldBe(0);
    }

    [Fact]
    public async Task Thirty_two_teams_at_once_each_capture_exactly_what_its_balance_covers()
    {
        var teams = await Task.WhenAll(Enumerable.Range(0, 32).Select(async i => (Team: (await fixture.System.CreateTeamAsync(credits: (5 + i) * Price)).TeamId, Covers: 5 + i)));
        // Two API instances' queues at once, as in production: their batches interleave on the same balance rows.
        await using var second = NewQueue();

        var results = await Task.WhenAll(Enumerable.Range(0, 32 * 40).Select(i => Task.Run(async () =>
            (teams[i % 32].Team, Receipt: await PairAsync(i % 2 == 0 ? _queue : second, teams[i % 32].Team)))));

        foreach (var (team, covers) in teams)
        {
            results.Count(r => r.Team == team && r.Receipt is not null).ShouldBe(covers);
            var balance = await new Accounts.Ledger(Db).GetBalanceAsync(team);
            balance.Credits.ShouldBe(0m);
            balance.HeldCredits.ShouldBe(0m);
            await Ledger.ShouldReconcileAsync(Db, team, expectedReceipts: covers);
        }
    }

    [Fact]
    public async Task A_batch_with_failing_items_still_charges_the_others()
    {
        var (blockedTeam, _) = await fixture.System.CreateTeamAsync(credits: 1m);
        var (teamId, _) = await fixture.System.CreateTeamAsync(credits: 1m);
        var holds = new CreditHolds(Db);
        var blockedHold = (await holds.TryPlaceAsync(blockedTeam, "req_blocked", "embeddings", "m", Price)).ShouldNotBeNull();
        var good = new List<(string Hold, string Request)>();
        for (var i = 0; i < 5; i++)
        {
            var request = Ulid.NewId("req");
            good.Add(((await holds.TryPlaceAsync(teamId, request, "embeddings", "m", Price)).ShouldNotBeNull(), request));
        }
        var released = (await holds.TryPlaceAsync(teamId, "req_released", "embeddings", "m", Price)).ShouldNotBeNull();
        (await holds.ReleaseAsync(released)).ShouldBeTrue();
        // Two holds of one request: one charge per request is a unique index, so the second charge fails its statement.
        var twin1 = (await holds.TryPlaceAsync(teamId, "req_twin", "embeddings", "m", Price)).ShouldNotBeNull();
        var twin2 = (await holds.TryPlaceAsync(teamId, "req_twin", "embeddings", "m", Price)).ShouldNotBeNull();

        // The first batch waits on a locked balance row while every other capture gathers into the next batch.
        Task<string?> first;
        var others = new List<Task<string?>>();
        await using (var blocker = await Db.OpenConnectionAsync())
        await using (var tx = await blocker.BeginTransactionAsync())
        {
            await using (var lockRow = new NpgsqlCommand("SELECT 1 FROM team_balances WHERE team_id = $1 FOR UPDATE", blocker, tx) { Parameters = { new() { Value = blockedTeam } } })
            {
                await lockRow.ExecuteScalarAsync();
            }
            first = _queue.CaptureAsync(CaptureOf(blockedHold, blockedTeam, "req_blocked", Price));
            await Task.Delay(200); // lets the first batch reach the lock; the assertions do not depend on it
            others.AddRange(good.Select(g => _queue.CaptureAsync(CaptureOf(g.Hold, teamId, g.Request, Price))));
            others.Add(_queue.CaptureAsync(CaptureOf(released, teamId, "req_released", Price)));
            others.Add(_queue.CaptureAsync(CaptureOf(twin1, teamId, "req_twin", Price)));
            others.Add(_queue.CaptureAsync(CaptureOf(twin2, teamId, "req_twin", Price)));
            await tx.CommitAsync();
        }

        (await first).ShouldNotBeNull();
        for (var i = 0; i < good.Count; i++)
        {
            (await others[i]).ShouldNotBeNull("a good capture is charged whatever its batch holds");
        }
        (await others[good.Count]).ShouldBeNull("a released hold charges nothing");
        var twins = await Task.WhenAll(others.Skip(good.Count + 1).Select(async t =>
        {
            try
            {
                return await t;
            }
            catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UniqueViolation)
            {
                return "refused";
            }
        }));
        twins.Count(t => t?.StartsWith("rcpt", StringComparison.Ordinal) == true).ShouldBe(1, "one charge per request");
        twins.Count(t => t == "refused").ShouldBe(1);
        await Ledger.ShouldReconcileAsync(Db, teamId, expectedReceipts: good.Count + 1);
        (await new Accounts.Ledger(Db).GetBalanceAsync(teamId)).ShouldBe(new Accounts.Balance(1m - (good.Count + 1) * Price, Price), "the refused twin's hold stays open");
    }

    [Fact]
    public async Task A_hold_refused_inside_a_batch_is_asked_again_alone_so_a_402_is_exact()
    {
        var (blockedTeam, _) = await fixture.System.CreateTeamAsync(credits: 1m);
        var (teamId, _) = await fixture.System.CreateTeamAsync(credits: 1m);

        Task<string?> first, big, tooBig, small;
        await using (var blocker = await Db.OpenConnectionAsync())
        await using (var tx = await blocker.BeginTransactionAsync())
        {
            await using (var lockRow = new NpgsqlCommand("SELECT 1 FROM team_balances WHERE team_id = $1 FOR UPDATE", blocker, tx) { Parameters = { new() { Value = blockedTeam } } })
            {
                await lockRow.ExecuteScalarAsync();
            }
            first = _queue.TryPlaceAsync(blockedTeam, "req_blocked", "embeddings", "m", Price);
            await Task.Delay(200);
            big = _queue.TryPlaceAsync(teamId, "req_big", "embeddings", "m", 0.9m);
            tooBig = _queue.TryPlaceAsync(teamId, "req_too_big", "embeddings", "m", 0.5m);
            small = _queue.TryPlaceAsync(teamId, "req_small", "embeddings", "m", 0.1m);
            await tx.CommitAsync();
        }

        (await first).ShouldNotBeNull();
        (await big).ShouldNotBeNull();
        (await tooBig).ShouldBeNull("0.5 does not fit next to 0.9 of 1");
        (await small).ShouldNotBeNull("0.1 still fits after a bigger hold was refused");
        (await new Accounts.Ledger(Db).GetBalanceAsync(teamId)).ShouldBe(new Accounts.Balance(1m, 1m));
        (await _queue.ReleaseAsync(teamId, (await big)!)).ShouldBeTrue();
        (await _queue.ReleaseAsync(teamId, (await big)!)).ShouldBeFalse("a released hold is released once");
        (await new Accounts.Ledger(Db).GetBalanceAsync(teamId)).ShouldBe(new Accounts.Balance(1m, 0.1m));
        await Ledger.ShouldReconcileAsync(Db, teamId, expectedReceipts: 0);
    }

    [Fact]
    public async Task A_capture_asked_again_gets_its_first_receipt_and_charges_nothing_whatever_its_batch_holds()
    {
        var (teamId, _) = await fixture.System.CreateTeamAsync(credits: 1m);
        var holds = new CreditHolds(Db);
        async Task<(string Hold, string Request)> HoldAsync()
        {
            var request = Ulid.NewId("req");
            return ((await holds.TryPlaceAsync(teamId, request, "embeddings", "m", Price)).ShouldNotBeNull(), request);
        }
        var earlier = new List<(string Hold, string Request)>();
        var later = new List<(string Hold, string Request)>();
        for (var i = 0; i < 20; i++)
        {
            earlier.Add(await HoldAsync());
            later.Add(await HoldAsync());
        }
        var first = await Task.WhenAll(earlier.Select(p => _queue.CaptureAsync(CaptureOf(p.Hold, teamId, p.Request, Price))));

        // The same captures again, side by side with captures of open holds, so retries and new charges share batches.
        var again = earlier.Select(p => _queue.CaptureAsync(CaptureOf(p.Hold, teamId, p.Request, Price)));
        var fresh = later.Select(p => _queue.CaptureAsync(CaptureOf(p.Hold, teamId, p.Request, Price)));
        var asked = again.Zip(fresh, (a, f) => new[] { a, f }).SelectMany(t => t).ToArray();
        await Task.WhenAll(asked);

        first.ShouldAllBe(r => r != null);
        asked.Where((_, i) => i % 2 == 0).Select(t => t.Result).ShouldBe(first, "a retried capture returns its first receipt");
        var newReceipts = asked.Where((_, i) => i % 2 == 1).Select(t => t.Result).ToArray();
        newReceipts.ShouldAllBe(r => r != null);
        newReceipts.Concat(first).Distinct().Count().ShouldBe(40, "one receipt per charge");
        await Ledger.ShouldReconcileAsync(Db, teamId, expectedReceipts: 40);
        (await new Accounts.Ledger(Db).GetBalanceAsync(teamId)).ShouldBe(new Accounts.Balance(1m - 40 * Price, 0m));
    }

    [Fact]
    public async Task Disposing_the_queue_commits_every_capture_asked_before()
    {
        var (teamId, _) = await fixture.System.CreateTeamAsync(credits: 1m);
        var queue = NewQueue();
        var holds = new CreditHolds(Db);
        var asked = new List<Task<string?>>();
        for (var i = 0; i < 50; i++)
        {
            var request = Ulid.NewId("req");
            var hold = (await holds.TryPlaceAsync(teamId, request, "embeddings", "m", Price)).ShouldNotBeNull();
            asked.Add(queue.CaptureAsync(CaptureOf(hold, teamId, request, Price)));
        }

        await queue.DisposeAsync();

        asked.ShouldAllBe(t => t.IsCompletedSuccessfully && t.Result != null);
        await Ledger.ShouldReconcileAsync(Db, teamId, expectedReceipts: 50);
        (await new Accounts.Ledger(Db).GetBalanceAsync(teamId)).ShouldBe(new Accounts.Balance(0.5m, 0m));
    }

    [Fact]
    public async Task A_connection_the_ledger_hands_back_keeps_none_of_its_batches_settings()
    {
        // The API's pool hands connections out as they were left (AccountsDataSource), so a batch's relaxed commit or
        // plan mode must end with its transaction: otherwise the next user of that connection (a capture, which must
        // be durable) would inherit it. One connection in the pool, so every batch and the check below share it.
        var settings = new NpgsqlConnectionStringBuilder(fixture.System.ConnectionString("postgres"));
        AccountsDataSource.Configure(settings);
        settings.MaxPoolSize = 1;
        await using var db = NpgsqlDataSource.Create(settings);
        var (teamId, _) = await fixture.System.CreateTeamAsync(credits: 1m);
        await using (var queue = new CreditCommitQueue(db, new CreditHolds(db), Options.Create(new CreditCommitOptions()), NullLogger<CreditCommitQueue>.Instance))
        {
            (await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => PairAsync(queue, teamId)))).ShouldAllBe(r => r != null);
            var released = await queue.TryPlaceAsync(teamId, Ulid.NewId("req"), "embeddings", "m", Price);
            (await queue.ReleaseAsync(teamId, released.ShouldNotBeNull())).ShouldBeTrue();
        }

        await using var conn = await db.OpenConnectionAsync();
        await using var show = new NpgsqlCommand("SELECT current_setting('synchronous_commit'), current_setting('plan_cache_mode')", conn);
        await using var reader = await show.ExecuteReaderAsync();
        (await reader.ReadAsync()).ShouldBeTrue();
        reader.GetString(0).ShouldBe("on");
        reader.GetString(1).ShouldBe("auto");
        await Ledger.ShouldReconcileAsync(Db, teamId, expectedReceipts: 20);
    }
}
