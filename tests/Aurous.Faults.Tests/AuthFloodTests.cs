using System.Diagnostics;
using Aurous.Accounts;
using Npgsql;
using Xunit.Abstractions;

namespace Aurous.Faults.Tests;

/// <summary>
/// Floods of unknown keys: a repeated unknown key costs Postgres one lookup, a client past 20 failures in 10 s gets 429
/// without a lookup, other clients are unaffected, and a key created after its hash was remembered as unknown works.
/// Lookups are counted by Postgres itself (scans of api_keys in pg_stat_user_tables).
/// </summary>
[Collection(FaultCollection.Name)]
public sealed class AuthFloodTests(FaultSystem fixture, ITestOutputHelper output)
{
    [Fact]
    public async Task Unknown_keys_are_remembered_a_flooding_client_is_throttled_and_others_are_not()
    {
        var system = fixture.System;
        var (teamId, validKey) = await system.CreateTeamAsync(credits: 1m);
        await system.SetLimitsAsync(teamId, rpm: 1_000_000, tpm: null);
        using var legit = Clients.From(system, "127.0.0.1", validKey);
        (await legit.GetAsync("/v1/models")).EnsureSuccessStatusCode();

        // 1. The same unknown key, 15 times from one client (below its failure limit): one Postgres lookup.
        var unknown = ApiKeySecret.Generate();
        using var repeater = Clients.From(system, "127.0.0.3", unknown);
        var log = new OutcomeLog();
        var before = await SettledLookupsAsync(system.Database);
        for (var i = 0; i < 15; i++)
        {
            (await log.SendAsync(repeater, () => new HttpRequestMessage(HttpMethod.Get, "/v1/models"))).Status.ShouldBe(401);
        }
        var repeatedLookups = await SettledLookupsAsync(system.Database) - before;
        repeatedLookups.ShouldBeLessThanOrEqualTo(2);

        // 2. A flood of distinct random keys from another client, while a valid key keeps working from a third.
        var flood = FaultScale.Pick(fast: 300, full: 2000);
        var floodLog = new OutcomeLog();
        var legitLog = new OutcomeLog();
        using var flooder = Clients.From(system, "127.0.0.2");
        before = await SettledLookupsAsync(system.Database);
        var clock = Stopwatch.StartNew();
        var sent = 0;
        using var done = new CancellationTokenSource();
        var legitLoop = Task.Run(async () =>
        {
            while (!done.IsCancellationRequested)
            {
                await legitLog.SendAsync(legit, () => new HttpRequestMessage(HttpMethod.Get, "/v1/models"));
                await Task.Delay(20);
            }
        });
        await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(async () =>
        {
            while (Interlocked.Increment(ref sent) <= flood)
            {
                var key = ApiKeySecret.Generate();
                await floodLog.SendAsync(flooder, () => new HttpRequestMessage(HttpMethod.Get, "/v1/models") { Headers = { { "X-Api-Key", key } } });
            }
        })));
        var floodTook = clock.Elapsed;
        await done.CancelAsync();
        await legitLoop;
        var floodLookups = await SettledLookupsAsync(system.Database) - before;

        var floodOutcomes = floodLog.All.ToArray();
        floodOutcomes.ShouldAllBe(o => o.Status == 401 || (o.Status == 429 && o.Code == "too_many_failed_authentications" && o.RetryAfter != null));
        floodOutcomes.Count(o => o.Status == 401).ShouldBeLessThanOrEqualTo(20 + 16);
        floodLookups.ShouldBeLessThanOrEqualTo(20 + 16 + 5);
        var legitOutcomes = legitLog.All.ToArray();
        legitOutcomes.ShouldAllBe(o => o.Status == 200);
        // The flooding address's own valid, cached key still works.
        using var flooderWithKey = Clients.From(system, "127.0.0.2", validKey);
        (await flooderWithKey.GetAsync("/v1/models")).StatusCode.ShouldBe(System.Net.HttpStatusCode.OK);

        // 3. A key created after its hash was remembered as unknown works as soon as the change is notified.
        var future = ApiKeySecret.Generate();
        using var newcomer = Clients.From(system, "127.0.0.4", future);
        (await newcomer.GetAsync("/v1/models")).StatusCode.ShouldBe(System.Net.HttpStatusCode.Unauthorized);
        await using (var insert = system.Database.CreateCommand(
            "INSERT INTO api_keys (id, team_id, name, key_hash, key_hint) VALUES (@id, @team, 'created after', @hash, @hint)"))
        {
            insert.Parameters.AddWithValue("id", Persistence.Ulid.NewId("key"));
            insert.Parameters.AddWithValue("team", teamId);
            insert.Parameters.AddWithValue("hash", ApiKeySecret.Hash(future));
            insert.Parameters.AddWithValue("hint", ApiKeySecret.Hint(future));
            await insert.ExecuteNonQueryAsync();
        }
        var created = Stopwatch.StartNew();
        System.Net.HttpStatusCode status;
        while ((status = (await newcomer.GetAsync("/v1/models")).StatusCode) != System.Net.HttpStatusCode.OK && created.Elapsed < TimeSpan.FromSeconds(2))
        {
            await Task.Delay(10);
        }
        status.ShouldBe(System.Net.HttpStatusCode.OK);
        var works = created.Elapsed;
        works.ShouldBeLessThan(TimeSpan.FromSeconds(1));

        FaultSummary.Record(output, system, $"bad-key flood: same unknown key ×15 → {repeatedLookups} Postgres lookup(s); {flood} random keys in {floodTook.TotalSeconds:0.0} s " +
            $"({flood / floodTook.TotalSeconds:0} req/s) → {OutcomeLog.Count(floodOutcomes)}, {floodLookups} lookups; other client {OutcomeLog.Count(legitOutcomes)}; " +
            $"key created after being remembered unknown works in {works.TotalMilliseconds:0} ms");
    }

    /// <summary>
    /// Scans of api_keys as Postgres counts them, once its statistics have caught up: a busy backend flushes its counts
    /// at most once a second and an idle one within 10 s, so the figure is read when it has not moved for 11 s.
    /// </summary>
    private static async Task<long> SettledLookupsAsync(NpgsqlDataSource db)
    {
        var last = await LookupsAsync(db);
        var unchanged = Stopwatch.StartNew();
        var deadline = Stopwatch.StartNew();
        while (unchanged.Elapsed < TimeSpan.FromSeconds(11) && deadline.Elapsed < TimeSpan.FromSeconds(40))
        {
            await Task.Delay(TimeSpan.FromSeconds(1));
            var now = await LookupsAsync(db);
            if (now != last)
            {
                (last, _) = (now, 0);
                unchanged.Restart();
            }
        }
        return last;
    }

    private static async Task<long> LookupsAsync(NpgsqlDataSource db)
    {
        await using var conn = await db.OpenConnectionAsync();
        await using (var clear = new NpgsqlCommand("SELECT pg_stat_clear_snapshot()", conn))
        {
            await clear.ExecuteNonQueryAsync();
        }
        await using var cmd = new NpgsqlCommand("SELECT coalesce(idx_scan, 0) + coalesce(seq_scan, 0) FROM pg_stat_user_tables WHERE relname = 'api_keys'", conn);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }
}
