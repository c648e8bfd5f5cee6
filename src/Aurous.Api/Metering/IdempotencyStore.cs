using System.Security.Cryptography;
using System.Text;
using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Aurous.Api.Metering;

/// <summary>
/// Stripe-style idempotency keys, per team, for 24 hours. The first request with a key claims it ('running', with a
/// lease, <see cref="MeteringOptions.IdempotencyLease"/>, that the request renews while it works, so only a crashed
/// request's key can be taken over by a retry); its successful response is stored in the same transaction as its charge
/// (see CreditHolds.CaptureAsync), which charges only while the request still owns the key; a failed one gives it back.
/// </summary>
public sealed class IdempotencyStore(NpgsqlDataSource db, IOptions<MeteringOptions> options)
{
    public const int MaxKeyLength = 255;
    public static readonly TimeSpan Window = TimeSpan.FromHours(24);

    private TimeSpan Lease => options.Value.IdempotencyLease;

    public enum Outcome { Acquired, Replay, DifferentBody, InProgress }

    public sealed record Claim(Outcome Outcome, int StatusCode = 0, string? ContentType = null, byte[]? Body = null);

    public async Task<Claim> ClaimAsync(string teamId, string key, byte[] fingerprint, string requestId, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var owner = await conn.ExecuteScalarAsync<string?>(new CommandDefinition("""
                INSERT INTO idempotency_records AS r (team_id, key, fingerprint, state, request_id, lease_until, expires_at)
                VALUES (@teamId, @key, @fingerprint, 'running', @requestId, now() + @lease, now() + @window)
                ON CONFLICT (team_id, key) DO UPDATE
                SET fingerprint = EXCLUDED.fingerprint, state = 'running', request_id = EXCLUDED.request_id,
                    lease_until = EXCLUDED.lease_until, status_code = NULL, content_type = NULL, response_body = NULL,
                    created_at = now(), expires_at = EXCLUDED.expires_at
                WHERE r.expires_at < now() OR (r.state = 'running' AND r.lease_until < now() AND r.fingerprint = EXCLUDED.fingerprint)
                RETURNING request_id
                """, new { teamId, key, fingerprint, requestId, lease = Lease, window = Window }, cancellationToken: ct));
            if (owner == requestId)
            {
                return new Claim(Outcome.Acquired);
            }

            var existing = await conn.QuerySingleOrDefaultAsync<(byte[] Fingerprint, string State, int? Status, string? ContentType, byte[]? Body)?>(
                new CommandDefinition(
                    "SELECT fingerprint, state, status_code, content_type, response_body FROM idempotency_records WHERE team_id = @teamId AND key = @key",
                    new { teamId, key }, cancellationToken: ct));
            if (existing is not { } e)
            {
                continue; // given back between our two statements: claim again
            }
            if (!e.Fingerprint.AsSpan().SequenceEqual(fingerprint))
            {
                return new Claim(Outcome.DifferentBody);
            }
            return e.State == "completed"
                ? new Claim(Outcome.Replay, e.Status!.Value, e.ContentType, e.Body)
                : new Claim(Outcome.InProgress);
        }
        return new Claim(Outcome.InProgress);
    }

    /// <summary>Extends the lease of a key this request still runs under; false when it no longer owns it (taken over, or completed).</summary>
    public async Task<bool> RenewAsync(string teamId, string key, string requestId, CancellationToken ct = default)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.ExecuteAsync(new CommandDefinition("""
            UPDATE idempotency_records SET lease_until = now() + @lease
            WHERE team_id = @teamId AND key = @key AND request_id = @requestId AND state = 'running'
            """, new { teamId, key, requestId, lease = Lease }, cancellationToken: ct)) == 1;
    }

    /// <summary>Gives the key back after a failed (non-2xx) response, so a corrected retry can use it.</summary>
    public async Task ReleaseAsync(string teamId, string key, string requestId)
    {
        await using var conn = await db.OpenConnectionAsync();
        await conn.ExecuteAsync(
            "DELETE FROM idempotency_records WHERE team_id = @teamId AND key = @key AND request_id = @requestId AND state = 'running'",
            new { teamId, key, requestId });
    }

    /// <summary>
    /// Forgets the response stored for a key by <paramref name="requestId"/> (a job that was accepted, then could not
    /// be queued and ended failed): a retry with the same key then makes a new job instead of replaying the failed one.
    /// </summary>
    public async Task ForgetAsync(string teamId, string key, string requestId)
    {
        await using var conn = await db.OpenConnectionAsync();
        await conn.ExecuteAsync(
            "DELETE FROM idempotency_records WHERE team_id = @teamId AND key = @key AND request_id = @requestId",
            new { teamId, key, requestId });
    }

    public async Task<int> DeleteExpiredAsync(CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.ExecuteAsync(new CommandDefinition("DELETE FROM idempotency_records WHERE expires_at < now()", cancellationToken: ct));
    }

    /// <summary>
    /// SHA-256 of the route and the canonical form of the JSON body (object keys sorted, insignificant whitespace
    /// dropped), so a retry that re-serialises the same request differently still matches.
    /// </summary>
    public static byte[] Fingerprint(string route, JsonElement body)
    {
        using var buffer = new MemoryStream();
        buffer.Write(Encoding.UTF8.GetBytes(route));
        buffer.WriteByte(0);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            WriteCanonical(writer, body);
        }
        return SHA256.HashData(buffer.ToArray());
    }

    private static void WriteCanonical(Utf8JsonWriter writer, JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                writer.WriteStartObject();
                foreach (var property in element.EnumerateObject().OrderBy(p => p.Name, StringComparer.Ordinal))
                {
                    writer.WritePropertyName(property.Name);
                    WriteCanonical(writer, property.Value);
                }
                writer.WriteEndObject();
                break;
            case JsonValueKind.Array:
                writer.WriteStartArray();
                foreach (var item in element.EnumerateArray())
                {
                    WriteCanonical(writer, item);
                }
                writer.WriteEndArray();
                break;
            default:
                element.WriteTo(writer);
                break;
        }
    }
}
