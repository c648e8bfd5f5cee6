using Dapper;
using Npgsql;

namespace Aurous.Accounts;

/// <summary>Credits (sum of ledger entries), credits held by requests in flight, and what remains available.</summary>
public sealed record Balance(decimal Credits, decimal HeldCredits)
{
    public decimal AvailableCredits => Credits - HeldCredits;
}

/// <summary>The prepaid credit ledger in Postgres, the single source of truth for money.</summary>
public sealed class Ledger(NpgsqlDataSource db)
{
    public async Task<Balance> GetBalanceAsync(string teamId, CancellationToken ct = default)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var (credits, held) = await conn.QuerySingleAsync<(decimal, decimal)>(new CommandDefinition("""
            SELECT COALESCE((SELECT sum(amount) FROM ledger_entries WHERE team_id = @teamId), 0),
                   COALESCE((SELECT sum(amount) FROM credit_holds WHERE team_id = @teamId AND state = 'held'), 0)
            """, new { teamId }, cancellationToken: ct));
        return new Balance(credits, held);
    }

    /// <summary>Adds credits to a team (a grant or a purchase); <paramref name="amount"/> must be positive.</summary>
    public async Task GrantAsync(string teamId, decimal amount, string kind, string description, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(amount);
        if (kind is not ("grant" or "purchase"))
        {
            throw new ArgumentException("Only grants and purchases add credits.", nameof(kind));
        }
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(
            "INSERT INTO ledger_entries (team_id, kind, amount, description) VALUES (@teamId, @kind, @amount, @description)",
            new { teamId, kind, amount, description }, cancellationToken: ct));
    }
}
