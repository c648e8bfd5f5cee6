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

    public bool HasScope(string scope) => ApiKeyScopes.Grants(Scopes, scope);

    /// <summary>Active keys, and rotated keys until their grace period ends, authenticate; revoked keys never do.</summary>
    public bool IsUsableAt(DateTimeOffset now) => State switch
    {
        ApiKeyState.Active => true,
        ApiKeyState.Rotated => GraceUntil is { } g && now < g,
        _ => false,
    };
}

/// <summary>A key as its team sees it in the dashboard and over REST: never the secret, only its hint.</summary>
public sealed record ApiKeySummary(
    string Id, string TeamId, string Name, string Hint, string[] Scopes, ApiKeyState State, DateTimeOffset CreatedAt,
    DateTimeOffset? LastUsedAt, DateTimeOffset? GraceUntil, DateTimeOffset? RotatedAt, DateTimeOffset? RevokedAt, string? ReplacedBy, string? CreatedBy)
{
    /// <summary>The status shown for the key: active, rotated (still in its grace), expired (rotated, grace over), revoked.</summary>
    public string StatusAt(DateTimeOffset now) => State switch
    {
        ApiKeyState.Active => "active",
        ApiKeyState.Rotated => IsUsableAt(now) ? "rotated" : "expired",
        _ => "revoked",
    };

    /// <summary>Whether the key authenticates at <paramref name="now"/> (a rotated key until its grace ends).</summary>
    public bool IsUsableAt(DateTimeOffset now) => State switch
    {
        ApiKeyState.Active => true,
        ApiKeyState.Rotated => GraceUntil is { } g && now < g,
        _ => false,
    };
}

/// <summary>A key just made (created or issued by a rotation): the only time its plaintext exists.</summary>
public sealed record NewApiKey(ApiKeySummary Key, string Plaintext);

public enum KeyChangeOutcome { Done, NotFound, NotActive }

public sealed class ApiKeyStore(NpgsqlDataSource db)
{
    /// <summary>How long a rotated key keeps working after its replacement is issued.</summary>
    public static readonly TimeSpan RotationGrace = TimeSpan.FromHours(24);

    /// <summary>The longest key name the dashboard and the API accept.</summary>
    public const int MaxNameLength = 100;

    /// <summary>The scopes a key gets from <see cref="CreateAsync"/> when none are named (seeds and tests).</summary>
    public static readonly string[] AllScopes = [.. ApiKeyScopes.All];

    private const string SummaryColumns = """
        k.id AS Id, k.team_id AS TeamId, k.name AS Name, k.key_hint AS Hint, k.scopes AS Scopes, k.state AS State,
        k.created_at AS CreatedAt, u.last_used_at AS LastUsedAt, k.grace_until AS GraceUntil, k.rotated_at AS RotatedAt,
        k.revoked_at AS RevokedAt, k.replaced_by AS ReplacedBy, k.created_by AS CreatedBy
        """;

    /// <summary>Creates a key and returns its plaintext, which is never stored and cannot be shown again.</summary>
    public async Task<(string Id, string Plaintext)> CreateAsync(string teamId, string name, IReadOnlyCollection<string>? scopes = null, CancellationToken ct = default)
    {
        var created = await CreateKeyAsync(teamId, name, scopes ?? AllScopes, createdBy: null, ct);
        return (created.Key.Id, created.Plaintext);
    }

    /// <summary>Creates a key for a team member or a management key; scopes are normalised to the known ones.</summary>
    public async Task<NewApiKey> CreateKeyAsync(string teamId, string name, IEnumerable<string> scopes, string? createdBy, CancellationToken ct = default)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await InsertAsync(conn, null, teamId, name, ApiKeyScopes.Normalize(scopes), createdBy, ct);
    }

    /// <summary>The team's keys, newest first; revoked keys too (the dashboard shows them greyed out).</summary>
    public async Task<IReadOnlyList<ApiKeySummary>> ListAsync(string teamId, CancellationToken ct = default)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var rows = await conn.QueryAsync<SummaryRow>(new CommandDefinition($"""
            SELECT {SummaryColumns} FROM api_keys k LEFT JOIN api_key_usage u ON u.key_id = k.id
            WHERE k.team_id = @teamId ORDER BY k.created_at DESC, k.id DESC
            """, new { teamId }, cancellationToken: ct));
        return rows.Select(r => r.ToSummary()).ToList();
    }

    /// <summary>One key of the team, or null (another team's key is never found).</summary>
    public async Task<ApiKeySummary?> GetAsync(string teamId, string keyId, CancellationToken ct = default)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var row = await conn.QuerySingleOrDefaultAsync<SummaryRow>(new CommandDefinition($"""
            SELECT {SummaryColumns} FROM api_keys k LEFT JOIN api_key_usage u ON u.key_id = k.id
            WHERE k.team_id = @teamId AND k.id = @keyId
            """, new { teamId, keyId }, cancellationToken: ct));
        return row?.ToSummary();
    }

    /// <summary>
    /// Issues a replacement for an active key (same name and scopes) and lets the old one work until
    /// <paramref name="now"/> + <see cref="RotationGrace"/>. One transaction: a key is rotated at most once.
    /// </summary>
    public async Task<(KeyChangeOutcome Outcome, NewApiKey? Replacement)> RotateAsync(string teamId, string keyId, string? rotatedBy, DateTimeOffset now, CancellationToken ct = default)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var old = await conn.QuerySingleOrDefaultAsync<(string Name, string[] Scopes, string State)?>(new CommandDefinition(
            "SELECT name, scopes, state FROM api_keys WHERE team_id = @teamId AND id = @keyId FOR UPDATE",
            new { teamId, keyId }, tx, cancellationToken: ct));
        if (old is null)
        {
            return (KeyChangeOutcome.NotFound, null);
        }
        if (old.Value.State != "active")
        {
            return (KeyChangeOutcome.NotActive, null);
        }
        var replacement = await InsertAsync(conn, tx, teamId, old.Value.Name, old.Value.Scopes, rotatedBy, ct);
        await conn.ExecuteAsync(new CommandDefinition("""
            UPDATE api_keys SET state = 'rotated', grace_until = @graceUntil, rotated_at = @now, replaced_by = @replacement
            WHERE id = @keyId
            """, new { keyId, graceUntil = (now + RotationGrace).UtcDateTime, now = now.UtcDateTime, replacement = replacement.Key.Id }, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
        return (KeyChangeOutcome.Done, replacement);
    }

    /// <summary>Revokes a key (active, or rotated and still in its grace): every API instance refuses it from its next
    /// request on, through the change notification on api_keys.</summary>
    public async Task<KeyChangeOutcome> RevokeAsync(string teamId, string keyId, DateTimeOffset now, CancellationToken ct = default)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var state = await conn.QuerySingleOrDefaultAsync<string?>(new CommandDefinition("""
            WITH k AS (SELECT id, state FROM api_keys WHERE team_id = @teamId AND id = @keyId FOR UPDATE),
                 u AS (UPDATE api_keys a SET state = 'revoked', revoked_at = @now FROM k WHERE a.id = k.id AND k.state <> 'revoked' RETURNING a.id)
            SELECT CASE WHEN EXISTS (SELECT 1 FROM u) THEN 'done' ELSE (SELECT state FROM k) END
            """, new { teamId, keyId, now = now.UtcDateTime }, cancellationToken: ct));
        return state switch
        {
            null => KeyChangeOutcome.NotFound,
            "done" => KeyChangeOutcome.Done,
            _ => KeyChangeOutcome.NotActive,
        };
    }

    private static async Task<NewApiKey> InsertAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string teamId, string name, string[] scopes, string? createdBy, CancellationToken ct)
    {
        var plaintext = ApiKeySecret.Generate();
        var id = Ulid.NewId("key");
        var createdAt = await conn.ExecuteScalarAsync<DateTime>(new CommandDefinition("""
            INSERT INTO api_keys (id, team_id, name, key_hash, key_hint, scopes, created_by)
            VALUES (@id, @teamId, @name, @hash, @hint, @scopes, @createdBy) RETURNING created_at
            """, new { id, teamId, name, hash = ApiKeySecret.Hash(plaintext), hint = ApiKeySecret.Hint(plaintext), scopes, createdBy }, tx, cancellationToken: ct));
        var summary = new ApiKeySummary(id, teamId, name, ApiKeySecret.Hint(plaintext), scopes, ApiKeyState.Active, Utc(createdAt)!.Value,
            null, null, null, null, null, createdBy);
        return new NewApiKey(summary, plaintext);
    }

    private static DateTimeOffset? Utc(DateTime? t) => t is { } v ? new DateTimeOffset(DateTime.SpecifyKind(v, DateTimeKind.Utc)) : null;

    /// <summary>A key row as Dapper fills it (by property name; a positional record cannot take text[] and null times).</summary>
    private sealed class SummaryRow
    {
        public string Id { get; set; } = "";
        public string TeamId { get; set; } = "";
        public string Name { get; set; } = "";
        public string Hint { get; set; } = "";
        public string[] Scopes { get; set; } = [];
        public string State { get; set; } = "";
        public DateTime CreatedAt { get; set; }
        public DateTime? LastUsedAt { get; set; }
        public DateTime? GraceUntil { get; set; }
        public DateTime? RotatedAt { get; set; }
        public DateTime? RevokedAt { get; set; }
        public string? ReplacedBy { get; set; }
        public string? CreatedBy { get; set; }

        public ApiKeySummary ToSummary() => new(Id, TeamId, Name, Hint, Scopes, Enum.Parse<ApiKeyState>(State, ignoreCase: true),
            Utc(CreatedAt)!.Value, Utc(LastUsedAt), Utc(GraceUntil), Utc(RotatedAt), Utc(RevokedAt), ReplacedBy, CreatedBy);
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
