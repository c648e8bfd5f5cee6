using System.Globalization;
using System.Text;
using Npgsql;

namespace Aurous.Testing;

/// <summary>What <see cref="LedgerAudit.RunAsync"/> found for one team: the figures and every broken invariant.</summary>
public sealed record LedgerAuditResult(
    string TeamId,
    decimal Credits,
    decimal LedgerSum,
    decimal Held,
    decimal OpenHolds,
    long OpenHoldCount,
    long Charges,
    long Receipts,
    decimal Charged,
    IReadOnlyList<string> Violations)
{
    public bool IsClean => Violations.Count == 0;

    /// <summary>Throws with every violation and the team's figures when the ledger does not reconcile.</summary>
    public LedgerAuditResult ShouldBeClean()
    {
        if (!IsClean)
        {
            throw new LedgerAuditException(ToString());
        }
        return this;
    }

    public override string ToString()
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture,
            $"Ledger audit of team {TeamId}: credits {Credits} (ledger sum {LedgerSum}), held {Held} (open holds {OpenHolds} in {OpenHoldCount}), {Charges} charges / {Receipts} receipts, {Charged} charged");
        foreach (var violation in Violations)
        {
            text.Append("\n  - ").Append(violation);
        }
        return text.ToString();
    }
}

public sealed class LedgerAuditException(string message) : Exception(message);

/// <summary>
/// Reconciles one team's money straight from the database, after any test or fault: the running balance equals the sum
/// of its ledger entries; the held amount equals its open holds (none at all, unless allowed); available credits are
/// never negative; every charge has exactly one receipt of the same amount, comes from a captured hold of the same
/// request whose captured amount it is and which it does not exceed (or was spent from a lease of its team: an API
/// instance's slice of the team's credits, which counts as an open hold until it is closed); no request and no hold is
/// charged twice.
/// </summary>
public static class LedgerAudit
{
    /// <param name="allowOpenHolds">True while requests may still be in flight; false (default) once everything settled.</param>
    public static async Task<LedgerAuditResult> RunAsync(NpgsqlDataSource db, string teamId, bool allowOpenHolds = false, CancellationToken ct = default)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        // One snapshot for every figure, so a request settling meanwhile cannot make them disagree.
        await using var tx = await conn.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct);
        var violations = new List<string>();

        decimal credits, ledgerSum, held, openHolds, charged;
        long openHoldCount, charges, receipts;
        await using (var totals = new NpgsqlCommand("""
            SELECT (SELECT credits FROM team_balances WHERE team_id = @t),
                   (SELECT COALESCE(sum(amount), 0) FROM ledger_entries WHERE team_id = @t),
                   (SELECT held FROM team_balances WHERE team_id = @t),
                   (SELECT COALESCE(sum(amount), 0) FROM credit_holds WHERE team_id = @t AND state = 'held'),
                   (SELECT count(*) FROM credit_holds WHERE team_id = @t AND state = 'held'),
                   (SELECT count(*) FROM ledger_entries WHERE team_id = @t AND kind = 'charge'),
                   (SELECT count(*) FROM usage_receipts WHERE team_id = @t),
                   (SELECT COALESCE(-sum(amount), 0) FROM ledger_entries WHERE team_id = @t AND kind = 'charge')
            """, conn, tx))
        {
            totals.Parameters.AddWithValue("t", teamId);
            await using var r = await totals.ExecuteReaderAsync(ct);
            await r.ReadAsync(ct);
            if (r.IsDBNull(0))
            {
                return new LedgerAuditResult(teamId, 0, 0, 0, 0, 0, 0, 0, 0, [$"team {teamId} has no balance row"]);
            }
            (credits, ledgerSum, held, openHolds, openHoldCount, charges, receipts, charged) =
                (r.GetDecimal(0), r.GetDecimal(1), r.GetDecimal(2), r.GetDecimal(3), r.GetInt64(4), r.GetInt64(5), r.GetInt64(6), r.GetDecimal(7));
        }

        if (credits != ledgerSum)
        {
            violations.Add($"running balance {credits} != sum of ledger entries {ledgerSum}");
        }
        if (held != openHolds)
        {
            violations.Add($"held {held} != sum of open holds {openHolds}");
        }
        if (credits - held < 0)
        {
            violations.Add($"available credits {credits - held} are negative (overdraft)");
        }
        if (!allowOpenHolds && openHoldCount > 0)
        {
            violations.Add($"{openHoldCount} hold(s) still open ({openHolds} credits): " + await ListAsync(conn, tx, teamId,
                "SELECT id || ' of ' || request_id || ' (' || amount || ')' FROM credit_holds WHERE team_id = @t AND state = 'held' ORDER BY created_at LIMIT 10", ct));
        }

        // Each check lists up to ten offending rows, so the failure says which request went wrong.
        await CheckAsync("charge without exactly one receipt of its amount", """
            SELECT 'entry ' || e.id || ' of ' || COALESCE(e.request_id, '?') || ' (' || -e.amount || '): ' || count(u.id) || ' receipt(s) totalling ' || COALESCE(sum(u.amount), 0)
            FROM ledger_entries e LEFT JOIN usage_receipts u ON u.ledger_entry_id = e.id
            WHERE e.team_id = @t AND e.kind = 'charge'
            GROUP BY e.id HAVING count(u.id) <> 1 OR sum(u.amount) <> -e.amount
            """);
        await CheckAsync("receipt without a charge of its team, request and amount", """
            SELECT u.id || ' of ' || u.request_id || ' (' || u.amount || ')'
            FROM usage_receipts u LEFT JOIN ledger_entries e ON e.id = u.ledger_entry_id
            WHERE u.team_id = @t AND (e.id IS NULL OR e.kind <> 'charge' OR e.team_id <> u.team_id OR e.request_id IS DISTINCT FROM u.request_id OR -e.amount <> u.amount)
            """);
        await CheckAsync("charge that does not match a captured hold (same request, captured amount, within the hold)", """
            SELECT 'entry ' || e.id || ' of ' || COALESCE(e.request_id, '?') || ' (' || -e.amount || ') hold ' || COALESCE(e.hold_id, 'none') || ' ' || COALESCE(h.state, 'missing')
            FROM ledger_entries e LEFT JOIN credit_holds h ON h.id = e.hold_id
            WHERE e.team_id = @t AND e.kind = 'charge' AND e.lease_id IS NULL
              AND (h.id IS NULL OR h.state <> 'captured' OR h.request_id <> e.request_id OR h.captured_amount IS DISTINCT FROM -e.amount OR -e.amount > h.amount)
            """);
        await CheckAsync("charge spent from something that is not a lease of its team", """
            SELECT 'entry ' || e.id || ' of ' || COALESCE(e.request_id, '?') || ' lease ' || e.lease_id || ' ' || COALESCE(h.state, 'missing')
            FROM ledger_entries e LEFT JOIN credit_holds h ON h.id = e.lease_id
            WHERE e.team_id = @t AND e.kind = 'charge' AND e.lease_id IS NOT NULL
              AND (h.id IS NULL OR NOT h.lease OR h.team_id <> e.team_id OR e.hold_id IS NOT NULL)
            """);
        await CheckAsync("captured hold without its charge", """
            SELECT h.id || ' of ' || h.request_id FROM credit_holds h
            WHERE h.team_id = @t AND h.state = 'captured' AND NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.hold_id = h.id AND e.kind = 'charge')
            """);
        await CheckAsync("request charged more than once", """
            SELECT request_id || ' (' || count(*) || ' charges)' FROM ledger_entries
            WHERE team_id = @t AND kind = 'charge' GROUP BY request_id HAVING count(*) > 1
            """);
        await tx.CommitAsync(ct);
        return new LedgerAuditResult(teamId, credits, ledgerSum, held, openHolds, openHoldCount, charges, receipts, charged, violations);

        async Task CheckAsync(string what, string sql)
        {
            var rows = await ListAsync(conn, tx, teamId, sql + " LIMIT 10", ct);
            if (rows.Length > 0)
            {
                violations.Add($"{what}: {rows}");
            }
        }
    }

    /// <summary>
    /// Waits (up to <paramref name="settle"/>, default 15 s) for the team's holds to end, then audits with no open hold
    /// allowed and throws on any violation: the check to run after a fault, once the requests in flight have ended.
    /// </summary>
    public static async Task<LedgerAuditResult> SettledAsync(NpgsqlDataSource db, string teamId, TimeSpan? settle = null, CancellationToken ct = default)
    {
        var deadline = System.Diagnostics.Stopwatch.StartNew();
        var audit = await RunAsync(db, teamId, allowOpenHolds: true, ct);
        while (audit.OpenHoldCount > 0 && deadline.Elapsed < (settle ?? TimeSpan.FromSeconds(15)))
        {
            await Task.Delay(250, ct);
            audit = await RunAsync(db, teamId, allowOpenHolds: true, ct);
        }
        return (await RunAsync(db, teamId, allowOpenHolds: false, ct)).ShouldBeClean();
    }

    private static async Task<string> ListAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string teamId, string sql, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, conn, tx);
        cmd.Parameters.AddWithValue("t", teamId);
        var rows = new List<string>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            rows.Add(r.IsDBNull(0) ? "?" : r.GetString(0));
        }
        return string.Join("; ", rows);
    }
}
