using Dapper;
using Npgsql;
using Aurous.Persistence;

namespace Aurous.Accounts;

/// <summary>The platform's rate limits, for every team without its own (the API enforces them; the dashboard shows them).</summary>
public static class PlatformRateLimits
{
    public const int RequestsPerMinute = 600;
    public const int TokensPerMinute = 2_000_000;
}

/// <summary>A team's settings: the API version requests without <c>Aurous-Version</c> get, and its own rate limits
/// (null: the platform default).</summary>
public sealed record TeamSettings(string Id, string Name, string ApiVersion, int? RpmLimit, int? TpmLimit);

public enum SetApiVersionOutcome { Done, Unchanged, NotFound, NotReleased }

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

    /// <summary>The team's settings, or null when it does not exist.</summary>
    public async Task<TeamSettings?> GetSettingsAsync(string teamId, CancellationToken ct = default)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var row = await conn.QuerySingleOrDefaultAsync<(string Id, string Name, string ApiVersion, int? Rpm, int? Tpm)?>(new CommandDefinition(
            "SELECT id, name, api_version, rpm_limit, tpm_limit FROM teams WHERE id = @teamId", new { teamId }, cancellationToken: ct));
        return row is { } r ? new TeamSettings(r.Id, r.Name, r.ApiVersion, r.Rpm, r.Tpm) : null;
    }

    /// <summary>
    /// Pins the team to a released API version. Every API instance applies it from its next request on (the teams
    /// trigger drops their cached keys); setting the version the team already has changes nothing and notifies no one.
    /// </summary>
    public async Task<SetApiVersionOutcome> SetApiVersionAsync(string teamId, string version, CancellationToken ct = default)
    {
        if (!ApiVersions.IsReleased(version))
        {
            return SetApiVersionOutcome.NotReleased;
        }
        await using var conn = await db.OpenConnectionAsync(ct);
        var outcome = await conn.ExecuteScalarAsync<string?>(new CommandDefinition("""
            WITH t AS (SELECT id FROM teams WHERE id = @teamId),
                 u AS (UPDATE teams SET api_version = @version WHERE id = @teamId AND api_version <> @version RETURNING id)
            SELECT CASE WHEN EXISTS (SELECT 1 FROM u) THEN 'done' WHEN EXISTS (SELECT 1 FROM t) THEN 'unchanged' END
            """, new { teamId, version }, cancellationToken: ct));
        return outcome switch
        {
            "done" => SetApiVersionOutcome.Done,
            "unchanged" => SetApiVersionOutcome.Unchanged,
            _ => SetApiVersionOutcome.NotFound,
        };
    }
}
