using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Aurous.Accounts;
using Aurous.Testing;
using Xunit.Abstractions;

namespace Aurous.Faults.Tests;

/// <summary>
/// kill -9 of the API instance during a burst of paid requests, whose captures are group-committed: a response that
/// says it charged was committed first, so nothing it answered is lost; the dead instance's holds and credit lease expire.
/// </summary>
[Collection(FaultCollection.Name)]
public sealed class ApiKillTests(FaultSystem fixture, ITestOutputHelper output)
{
    [Fact]
    public async Task An_api_killed_during_a_burst_loses_no_charge_it_answered_and_its_holds_expire()
    {
        var system = fixture.System;
        await system.EnsureHealthyAsync("api");
        var (teamId, key) = await system.CreateTeamAsync(credits: 100m);
        await system.SetLimitsAsync(teamId, rpm: 1_000_000, tpm: 100_000_000);
        var charged = new ConcurrentBag<(string RequestId, decimal Credits)>();
        var statuses = new ConcurrentBag<int>();

        using (var http = system.CreateApiClient(key))
        {
            http.Timeout = TimeSpan.FromSeconds(30);
            (await http.SendAsync(OutcomeLog.Embedding())).StatusCode.ShouldBe(HttpStatusCode.OK);
            var total = FaultScale.Pick(fast: 300, full: 1000);
            var killAt = total / 2;
            var sent = 0;
            var api = Process.GetProcessById(await system.ProcessIdAsync("api"));
            var clients = Enumerable.Range(0, 16).Select(_ => Task.Run(async () =>
            {
                while (Interlocked.Increment(ref sent) is var n && n <= total)
                {
                    if (n == killAt)
                    {
                        api.Kill(entireProcessTree: true);
                    }
                    try
                    {
                        using var message = OutcomeLog.Embedding();
                        using var response = await http.SendAsync(message);
                        statuses.Add((int)response.StatusCode);
                        if (response.StatusCode == HttpStatusCode.OK)
                        {
                            using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
                            charged.Add((response.Headers.GetValues("Aurous-Request-Id").Single(),
                                body.RootElement.GetProperty("usage").GetProperty("credits_charged").GetDecimal()));
                        }
                    }
                    catch (HttpRequestException)
                    {
                        statuses.Add(0); // the instance died under this request, or before it
                    }
                }
            })).ToArray();
            using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(90));
            await Task.WhenAll(clients).WaitAsync(bound.Token);
            await api.WaitForExitAsync();
        }

        statuses.ShouldNotContain(500);
        charged.ShouldNotBeEmpty();
        charged.ShouldAllBe(c => c.Credits > 0m);
        // Every answer that said it charged has its one ledger entry and its one receipt, for exactly that amount.
        await using (var cmd = system.Database.CreateCommand("""
            SELECT r.id, count(e.id), COALESCE(-sum(e.amount), 0), count(u.id)
            FROM unnest($2::text[]) AS r(id)
            LEFT JOIN ledger_entries e ON e.team_id = $1 AND e.request_id = r.id AND e.kind = 'charge'
            LEFT JOIN usage_receipts u ON u.ledger_entry_id = e.id
            GROUP BY r.id
            """))
        {
            cmd.Parameters.Add(new() { Value = teamId });
            cmd.Parameters.Add(new() { Value = charged.Select(c => c.RequestId).ToArray() });
            var expected = charged.ToDictionary(c => c.RequestId, c => c.Credits);
            await using var r = await cmd.ExecuteReaderAsync();
            var seen = 0;
            while (await r.ReadAsync())
            {
                seen++;
                r.GetInt64(1).ShouldBe(1, $"one charge for {r.GetString(0)}");
                r.GetDecimal(2).ShouldBe(expected[r.GetString(0)]);
                r.GetInt64(3).ShouldBe(1, $"one receipt for {r.GetString(0)}");
            }
            seen.ShouldBe(expected.Count);
        }

        // Started again, the instance serves; the holds the dead one left open go stale, and the sweeper's statement
        // expires them (every request of this team has ended, so any hold still open belongs to the dead instance).
        await system.EnsureHealthyAsync("api");
        await using (var leased = system.Database.CreateCommand(
            "SELECT count(*) FROM ledger_entries WHERE team_id = $1 AND kind = 'charge' AND lease_id IS NOT NULL"))
        {
            leased.Parameters.Add(new() { Value = teamId });
            ((long)(await leased.ExecuteScalarAsync())!).ShouldBeGreaterThan(0, "the burst was served from the instance's credit lease");
        }
        // Holds and the lease the dead instance left open both expire.
        await new CreditHolds(system.Database).ExpireStaleAsync(TimeSpan.Zero);
        var books = await LedgerAudit.SettledAsync(system.Database, teamId);
        books.Receipts.ShouldBeGreaterThanOrEqualTo(charged.Count + 1);
        FaultSummary.Record(output, system, $"kill -9 api: {statuses.Count} requests, {charged.Count} answered with a charge, " +
            $"{statuses.Count(s => s == 0)} cut; {books}");
    }
}
