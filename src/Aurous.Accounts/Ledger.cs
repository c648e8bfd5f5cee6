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
    public Task GrantAsync(string teamId, decimal amount, string kind, string description, CancellationToken ct = default) =>
        GrantAsync(teamId, amount, kind, description, createdBy: null, ct);

    /// <summary>Adds credits as <see cref="GrantAsync(string, decimal, string, string, CancellationToken)"/>, recording who did it
    /// (an operator's user id); returns the ledger entry's id. Throws <see cref="InvalidOperationException"/> for an unknown team.</summary>
    public async Task<long> GrantAsync(string teamId, decimal amount, string kind, string description, string? createdBy, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(amount);
        if (kind is not ("grant" or "purchase"))
        {
            throw new ArgumentException("Only grants and purchases add credits.", nameof(kind));
        }
        await using var conn = await db.OpenConnectionAsync(ct);
        // The entry is written from the team's balance row, so an unknown team gets neither (the ledger's rows take
        // their team from that row, never from the caller).
        var id = await conn.ExecuteScalarAsync<long?>(new CommandDefinition("""
            WITH b AS (UPDATE team_balances SET credits = credits + @amount WHERE team_id = @teamId RETURNING team_id)
            INSERT INTO ledger_entries (team_id, kind, amount, description, created_by)
            SELECT team_id, @kind, @amount, @description, @createdBy FROM b
            RETURNING id
            """, new { teamId, kind, amount, description, createdBy }, cancellationToken: ct));
        return id ?? throw new InvalidOperationException($"Team {teamId} does not exist; no credits were added.");
    }
}
