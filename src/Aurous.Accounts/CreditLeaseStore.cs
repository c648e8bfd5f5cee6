using Npgsql;
using NpgsqlTypes;
using Aurous.Persistence;

namespace Aurous.Accounts;

/// <summary>
/// The statements of credit leases. A lease is an open hold (<c>lease</c> true) of a slice of a team's available
/// credits, taken by one API instance, which then places its requests' holds against the slice in memory and charges
/// them through the ledger's group commit (<see cref="Capture.FromLease"/>). The balance row's CHECK still bounds every
/// lease: held = sum of open holds, leases included, and available credits never fall below zero. Every statement here
/// that moves credits locks the team's balance row first, as the ledger's batches do. Opening and growing take at most
/// a given share of what the team has available then, and commit durably (the instance spends what they grant);
/// giving back and closing commit relaxed (a lost one only leaves credits reserved until the lease closes or the hold
/// sweeper expires it).
/// </summary>
public sealed class CreditLeaseStore(NpgsqlDataSource db)
{
    // What a lease may take: what is wanted, at most the given share of the team's available credits (cut to the
    // ledger's 12 decimals, so the amount held is exactly the amount reported), and nothing below the minimum.
    private const string Open = """
        WITH avail AS (
            SELECT team_id, trunc(LEAST($3::numeric, (credits - held) * $5::numeric), 12) AS amount
            FROM team_balances WHERE team_id = $4),
        ins AS (
            INSERT INTO credit_holds (id, team_id, request_id, amount, state, lease, renewed_at, endpoint, model)
            SELECT $1, team_id, $2, amount, 'held', true, now(), 'lease', '' FROM avail WHERE amount >= $6 AND amount > 0
            RETURNING team_id, amount)
        UPDATE team_balances tb SET held = tb.held + ins.amount FROM ins WHERE tb.team_id = ins.team_id
        RETURNING ins.amount
        """;

    private const string Grow = """
        WITH avail AS (
            SELECT trunc(LEAST($2::numeric, (credits - held) * $5::numeric), 12) AS amount
            FROM team_balances WHERE team_id = $3),
        c AS (
            UPDATE credit_holds h SET amount = h.amount + avail.amount, renewed_at = now()
            FROM avail
            WHERE h.id = $1 AND h.team_id = $3 AND h.lease AND h.state = 'held' AND avail.amount >= $4 AND avail.amount > 0
            RETURNING h.team_id, avail.amount)
        UPDATE team_balances tb SET held = tb.held + c.amount FROM c WHERE tb.team_id = c.team_id
        RETURNING c.amount
        """;

    /// <summary>A new lease's id: chosen before it is opened, so that one whose opening ended in doubt can still be closed.</summary>
    public static string NewId() => Ulid.NewId("lease");

    /// <summary>
    /// Opens lease <paramref name="id"/> (<see cref="NewId"/>) for <paramref name="holder"/> (the API instance) of
    /// <paramref name="want"/> credits, or of <paramref name="share"/> of the team's available credits when that is less,
    /// provided that is at least <paramref name="min"/>; returns its amount, or null when none was opened.
    /// </summary>
    public Task<decimal?> TryOpenAsync(string id, string teamId, string holder, decimal want, decimal min, decimal share, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(want);
        return RunLockedAsync(teamId, CreditBatches.Command(Open, Text(id), Text(holder), Numeric(want), Text(teamId), Numeric(share), Numeric(min)), durable: true, ct);
    }

    /// <summary>
    /// Adds up to <paramref name="want"/> credits to an open lease, as <see cref="TryOpenAsync"/> would size it; returns
    /// how much was added: 0 when too little is available or the lease is no longer open.
    /// </summary>
    public async Task<decimal> TryGrowAsync(string teamId, string leaseId, decimal want, decimal min, decimal share, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(want);
        return await RunLockedAsync(teamId, CreditBatches.Command(Grow, Text(leaseId), Numeric(want), Text(teamId), Numeric(min), Numeric(share)), durable: true, ct) ?? 0m;
    }

    /// <summary>
    /// Runs <paramref name="command"/> after locking the team's balance row (the order every ledger statement keeps: the
    /// team, then its holds), so that it reads what is available now. Opening and growing commit durably: a lease
    /// acknowledged here is spent from in memory, so it must not be lost to a crash; the rest commit relaxed.
    /// </summary>
    private async Task<decimal?> RunLockedAsync(string teamId, NpgsqlBatchCommand command, bool durable, CancellationToken ct)
    {
        await using var batch = db.CreateBatch();
        CreditBatches.AddSettingsAndLocks(batch, [teamId], relaxed: !durable);
        batch.BatchCommands.Add(command);
        decimal? amount = null;
        await CreditBatches.ReadResultsAsync(batch, 2, r => amount = r.GetDecimal(0), ct);
        return amount;
    }

    /// <summary>Gives <paramref name="amount"/> of an open lease back to the team; false when the lease is no longer open.</summary>
    public async Task<bool> GiveBackAsync(string teamId, string leaseId, decimal amount, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(amount);
        return await RunLockedAsync(teamId, CreditBatches.Command("""
            WITH c AS (
                UPDATE credit_holds SET amount = amount - $2
                WHERE id = $1 AND lease AND state = 'held' AND amount >= $2
                RETURNING team_id)
            UPDATE team_balances tb SET held = tb.held - $2 FROM c WHERE tb.team_id = c.team_id
            RETURNING tb.held
            """, Text(leaseId), Numeric(amount)), durable: false, ct) is not null;
    }

    /// <summary>Closes an open lease, giving all it still holds back to the team; false when it was no longer open.</summary>
    public async Task<bool> CloseAsync(string teamId, string leaseId, CancellationToken ct = default) =>
        await RunLockedAsync(teamId, CreditBatches.Command("""
            WITH c AS (
                UPDATE credit_holds SET state = 'released', settled_at = now()
                WHERE id = $1 AND lease AND state = 'held'
                RETURNING team_id, amount)
            UPDATE team_balances tb SET held = tb.held - c.amount FROM c WHERE tb.team_id = c.team_id
            RETURNING c.amount
            """, Text(leaseId)), durable: false, ct) is not null;

    /// <summary>
    /// Renews the given leases (the instance still runs); returns those still open. One short transaction per lease, so
    /// a renewal never holds one lease's row while it waits for another's.
    /// </summary>
    public async Task<HashSet<string>> RenewAsync(IReadOnlyCollection<string> leaseIds, CancellationToken ct = default)
    {
        var open = new HashSet<string>(StringComparer.Ordinal);
        foreach (var id in leaseIds)
        {
            await using var cmd = db.CreateCommand("""
                WITH relaxed AS (SELECT set_config('synchronous_commit', 'off', true))
                UPDATE credit_holds SET renewed_at = now() FROM relaxed WHERE id = $1 AND lease AND state = 'held'
                """);
            cmd.Parameters.Add(Text(id));
            if (await cmd.ExecuteNonQueryAsync(ct) == 1)
            {
                open.Add(id);
            }
        }
        return open;
    }

    private static NpgsqlParameter Text(string value) => new NpgsqlParameter<string> { TypedValue = value, NpgsqlDbType = NpgsqlDbType.Text };

    private static NpgsqlParameter Numeric(decimal value) => new NpgsqlParameter<decimal> { TypedValue = value, NpgsqlDbType = NpgsqlDbType.Numeric };
}
