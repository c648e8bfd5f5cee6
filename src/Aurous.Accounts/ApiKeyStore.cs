using Dapper;
using Npgsql;
using Aurous.Persistence;

namespace Aurous.Accounts;

public enum ApiKeyState { Active, Rotated, Revoked }

/// <summary>An API key row as authentication sees it.</summary>
public sealed record ApiKeyRecord(string Id, string TeamId, string[] Scopes, ApiKeyState State, DateTimeOffset? GraceUntil, string TeamApiVersion)
{
    /// <summary>The team's own requests-per-minute limit; null for the platform default.</summary>
    public int? RpmLimit { get; init; }

    /// <summary>The team's own tokens-per-minute limit; null for the platform default.</summary>
    public int? TpmLimit { get; init; }

    public bool HasScope(string scope) => Array.IndexOf(Scopes, scope) >= 0;

    /// <summary>Active keys, and rotated keys until their grace period ends, authenticate; revoked keys never do.</summary>
    public bool IsUsableAt(DateTimeOffset now) => State switch
    {
        ApiKeyState.Active => true,
        ApiKeyState.Rotated => GraceUntil is { } g && now < g,
        _ => false,
    };
}

public sealed class ApiKeyStore(NpgsqlDataSource db)
{
    public static readonly string[] AllScopes = ["chat", "embeddings", "images", "videos"];

    /// <summary>Creates a key and returns its plaintext, which is never stored and cannot be shown again.</summary>
    public async Task<(string Id, string Plaintext)> CreateAsync(string teamId, string name, IReadOnlyCollection<string>? scopes = null, CancellationToken ct = default)
    {
        var plaintext = ApiKeySecret.Generate();
        var id = Ulid.NewId("key");
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(
            "INSERT INTO api_keys (id, team_id, name, key_hash, key_hint, scopes) VALUES (@id, @teamId, @name, @hash, @hint, @scopes)",
            new { id, teamId, name, hash = ApiKeySecret.Hash(plaintext), hint = ApiKeySecret.Hint(plaintext), scopes = (scopes ?? AllScopes).ToArray() },
            cancellationToken: ct));
        return (id, plaintext);
    }

    public async Task<ApiKeyRecord?> FindByHashAsync(byte[] hash, CancellationToken ct = default)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var row = await conn.QuerySingleOrDefaultAsync<(string Id, string TeamId, string[] Scopes, string State, DateTime? GraceUntil, string ApiVersion, int? Rpm, int? Tpm)>(
            new CommandDefinition("""
                SELECT k.id, k.team_id, k.scopes, k.state, k.grace_until, t.api_version, t.rpm_limit, t.tpm_limit
                FROM api_keys k JOIN teams t ON t.id = k.team_id
                WHERE k.key_hash = @hash
                """, new { hash }, cancellationToken: ct));
        if (row.Id is null)
        {
            return null;
        }
        return new ApiKeyRecord(row.Id, row.TeamId, row.Scopes, Enum.Parse<ApiKeyState>(row.State, ignoreCase: true),
            row.GraceUntil is { } g ? new DateTimeOffset(DateTime.SpecifyKind(g, DateTimeKind.Utc)) : null, row.ApiVersion)
        {
            RpmLimit = row.Rpm,
            TpmLimit = row.Tpm,
        };
    }

    public async Task<bool> IsUsableAsync(string plaintext, CancellationToken ct = default) =>
        ApiKeySecret.IsWellFormed(plaintext)
        && await FindByHashAsync(ApiKeySecret.Hash(plaintext), ct) is { } key
        && key.IsUsableAt(DateTimeOffset.UtcNow);
}
