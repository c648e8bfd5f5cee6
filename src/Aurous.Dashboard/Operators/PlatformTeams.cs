using Dapper;
using Npgsql;

namespace Aurous.Dashboard.Operators;

/// <summary>A team as operators see it: its balance and what is available after holds.</summary>
public sealed record PlatformTeam(string Id, string Name, decimal Credits, decimal Held)
{
    public decimal Available => Credits - Held;
}

/// <summary>Every team on the platform, for operators only (the operators' page checks the role first).</summary>
public sealed class PlatformTeams(NpgsqlDataSource db)
{
    public async Task<IReadOnlyList<PlatformTeam>> ListAsync(CancellationToken ct = default)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var rows = await conn.QueryAsync<PlatformTeam>(new CommandDefinition("""
            SELECT t.id AS Id, t.name AS Name, coalesce(b.credits, 0) AS Credits, coalesce(b.held, 0) AS Held
            FROM teams t LEFT JOIN team_balances b ON b.team_id = t.id ORDER BY t.name, t.id
            """, cancellationToken: ct));
        return [.. rows];
    }

    public async Task<bool> ExistsAsync(string teamId, CancellationToken ct = default)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT EXISTS (SELECT 1 FROM teams WHERE id = @teamId)", new { teamId }, cancellationToken: ct));
    }
}
