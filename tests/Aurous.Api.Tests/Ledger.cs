using Npgsql;

namespace Aurous.Api.Tests;

/// <summary>Reconciliation checks straight on the database: the invariants the ledger must keep.</summary>
public static class Ledger
{
    /// <summary>Checks the invariants; <paramref name="expectedReceipts"/> null accepts any count (it is returned).</summary>
    public static async Task<long> ShouldReconcileAsync(NpgsqlDataSource db, string teamId, int? expectedReceipts)
    {
        await using var cmd = db.CreateCommand("""
            SELECT (SELECT COALESCE(sum(amount), 0) FROM ledger_entries WHERE team_id = @t),
                   (SELECT credits FROM team_balances WHERE team_id = @t),
                   (SELECT COALESCE(sum(amount), 0) FROM credit_holds WHERE team_id = @t AND state = 'held'),
                   (SELECT held FROM team_balances WHERE team_id = @t),
                   (SELECT COALESCE(-sum(amount), 0) FROM ledger_entries WHERE team_id = @t AND kind = 'charge'),
                   (SELECT COALESCE(sum(amount), 0) FROM usage_receipts WHERE team_id = @t),
                   (SELECT count(*) FROM usage_receipts WHERE team_id = @t),
                   (SELECT count(*) FROM ledger_entries WHERE team_id = @t AND kind = 'charge')
            """);
        cmd.Parameters.AddWithValue("t", teamId);
        await using var r = await cmd.ExecuteReaderAsync();
        await r.ReadAsync();
        r.GetDecimal(1).ShouldBe(r.GetDecimal(0), "running balance = sum of the ledger");
        r.GetDecimal(3).ShouldBe(r.GetDecimal(2), "held = sum of open holds");
        r.GetDecimal(5).ShouldBe(r.GetDecimal(4), "sum of receipts = ledger debits");
        if (expectedReceipts is { } expected)
        {
            r.GetInt64(6).ShouldBe(expected);
        }
        r.GetInt64(7).ShouldBe(r.GetInt64(6), "one ledger charge per receipt");
        (r.GetDecimal(1) - r.GetDecimal(3)).ShouldBeGreaterThanOrEqualTo(0m, "available credits never negative");
        return r.GetInt64(6);
    }
}
