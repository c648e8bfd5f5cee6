using System.Diagnostics;
using Npgsql;

namespace Aurous.Faults.Tests;

/// <summary>What a team's books say after a fault.</summary>
public sealed record LedgerState(decimal Balance, decimal LedgerSum, decimal Held, long OpenHolds, long Charges, long Receipts, decimal Charged, decimal Receipted, long ChargesWithoutCapturedHold)
{
    public override string ToString() =>
        $"balance {Balance:0.######} = ledger {LedgerSum:0.######}, {Charges} charges / {Receipts} receipts ({Charged:0.######} credits), {OpenHolds} open holds";
}

/// <summary>
/// The books must reconcile after any fault: the running balance equals the sum of the ledger, every charge has one
/// receipt of the same amount and a captured hold, and no hold stays open once the requests in flight have ended.
/// </summary>
public static class LedgerChecks
{
    public static async Task<LedgerState> ReadAsync(NpgsqlDataSource db, string teamId)
    {
        await using var cmd = db.CreateCommand("""
            SELECT (SELECT credits FROM team_balances WHERE team_id = @t),
                   (SELECT coalesce(sum(amount), 0) FROM ledger_entries WHERE team_id = @t),
                   (SELECT held FROM team_balances WHERE team_id = @t),
                   (SELECT count(*) FROM credit_holds WHERE team_id = @t AND state = 'held'),
                   (SELECT count(*) FROM ledger_entries WHERE team_id = @t AND kind = 'charge'),
                   (SELECT count(*) FROM usage_receipts WHERE team_id = @t),
                   (SELECT coalesce(-sum(amount), 0) FROM ledger_entries WHERE team_id = @t AND kind = 'charge'),
                   (SELECT coalesce(sum(r.amount), 0) FROM usage_receipts r JOIN ledger_entries l ON l.id = r.ledger_entry_id AND l.kind = 'charge' WHERE r.team_id = @t),
                   (SELECT count(*) FROM ledger_entries l LEFT JOIN credit_holds h ON h.id = l.hold_id
                     WHERE l.team_id = @t AND l.kind = 'charge' AND (h.id IS NULL OR h.state <> 'captured'))
            """);
        cmd.Parameters.AddWithValue("t", teamId);
        await using var r = await cmd.ExecuteReaderAsync();
        await r.ReadAsync();
        return new LedgerState(r.GetDecimal(0), r.GetDecimal(1), r.GetDecimal(2), r.GetInt64(3), r.GetInt64(4), r.GetInt64(5), r.GetDecimal(6), r.GetDecimal(7), r.GetInt64(8));
    }

    /// <summary>Waits (up to <paramref name="settle"/>) for open holds to end, then asserts the books reconcile.</summary>
    public static async Task<LedgerState> ReconcileAsync(NpgsqlDataSource db, string teamId, TimeSpan? settle = null)
    {
        var deadline = Stopwatch.StartNew();
        var state = await ReadAsync(db, teamId);
        while (state.OpenHolds > 0 && deadline.Elapsed < (settle ?? TimeSpan.FromSeconds(15)))
        {
            await Task.Delay(250);
            state = await ReadAsync(db, teamId);
        }
        state.OpenHolds.ShouldBe(0, $"open holds remain: {state}");
        state.Held.ShouldBe(0m, $"held credits remain: {state}");
        state.Balance.ShouldBe(state.LedgerSum, $"balance and ledger differ: {state}");
        state.Receipts.ShouldBe(state.Charges, $"receipts and charges differ: {state}");
        state.Receipted.ShouldBe(state.Charged, $"receipts and charges differ in amount: {state}");
        state.ChargesWithoutCapturedHold.ShouldBe(0, $"charges without a captured hold: {state}");
        return state;
    }
}
