using Dapper;
using Npgsql;
using Aurous.Persistence;

namespace Aurous.Accounts;

public sealed class TeamStore(NpgsqlDataSource db)
{
    public async Task<string> CreateAsync(string name, CancellationToken ct = default)
    {
        var id = Ulid.NewId("team");
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition("""
            WITH t AS (INSERT INTO teams (id, name) VALUES (@id, @name) RETURNING id)
            INSERT INTO team_balances (team_id) SELECT id FROM t
            """, new { id, name }, cancellationToken: ct));
        return id;
    }

    public async Task<string?> FindByNameAsync(string name, CancellationToken ct = default)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.QueryFirstOrDefaultAsync<string>(new CommandDefinition(
            "SELECT id FROM teams WHERE name = @name ORDER BY created_at LIMIT 1", new { name }, cancellationToken: ct));
    }
}
