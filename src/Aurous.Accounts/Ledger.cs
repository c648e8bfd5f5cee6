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
    /// <summary>The running balance, kept equal to the ledger's sum by every statement that writes the ledger.</summary>
    public async Task<Balance> GetBalanceAsync(string teamId, CancellationToken ct = default)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var row = await conn.QuerySingleOrDefaultAsync<(decimal Credits, decimal Held)?>(new CommandDefinition(
            "SELECT credits, held FROM team_balances WHERE team_id = @teamId", new { teamId }, cancellationToken: ct));
        return row is { } r ? new Balance(r.Credits, r.Held) : new Balance(0, 0);
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
        await conn.ExecuteAsync(new CommandDefinition("""
            WITH e AS (INSERT INTO ledger_entries (team_id, kind, amount, description) VALUES (@teamId, @kind, @amount, @description) RETURNING team_id, amount)
            UPDATE team_balances b SET credits = b.credits + e.amount FROM e WHERE b.team_id = e.team_id
            """, new { teamId, kind, amount, description }, cancellationToken: ct));
    }
}
