using Npgsql;

namespace Aurous.Jobs.Webhooks;

/// <summary>
/// A team's webhook endpoints and their delivery log in Postgres, as the management API and the dashboard see them.
/// Times come from the caller's clock. Events and delivery attempts are <see cref="WebhookDeliveryStore"/>'s.
/// </summary>
public sealed class WebhookStore(NpgsqlDataSource db)
{
    // ---- Endpoints (the management API) ---------------------------------------------------------------------

    /// <summary>Creates the endpoint unless the team already has <paramref name="maxPerTeam"/>; null then.</summary>
    public async Task<WebhookEndpoint?> CreateEndpointAsync(
        string teamId, string url, string? description, IReadOnlyList<string> events, string secret, int maxPerTeam, DateTimeOffset now, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand($"""
            INSERT INTO webhook_endpoints AS e (id, team_id, url, description, events, secret, status, created_at)
            SELECT @id, @team, @url, @description, @events, @secret, 'enabled', @now
            WHERE (SELECT count(*) FROM webhook_endpoints WHERE team_id = @team AND deleted_at IS NULL) < @max
            RETURNING {WebhookRows.EndpointColumns}
            """);
        cmd.Parameters.AddWithValue("id", Persistence.Ulid.NewId("we"));
        cmd.Parameters.AddWithValue("team", teamId);
        cmd.Parameters.AddWithValue("url", url);
        cmd.Parameters.AddWithValue("description", (object?)description ?? DBNull.Value);
        cmd.Parameters.AddWithValue("events", events.ToArray());
        cmd.Parameters.AddWithValue("secret", secret);
        cmd.Parameters.AddWithValue("max", maxPerTeam);
        cmd.Parameters.AddWithValue("now", now.UtcDateTime);
        return await WebhookRows.ReadEndpointAsync(cmd, ct);
    }

    public async Task<IReadOnlyList<WebhookEndpoint>> ListEndpointsAsync(string teamId, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand($"SELECT {WebhookRows.EndpointColumns} FROM webhook_endpoints e WHERE e.team_id = @team AND e.deleted_at IS NULL ORDER BY e.id DESC");
        cmd.Parameters.AddWithValue("team", teamId);
        var list = new List<WebhookEndpoint>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            list.Add(WebhookRows.ReadEndpoint(reader));
        }
        return list;
    }

    /// <summary>The team's endpoint, or null (deleted, or another team's).</summary>
    public async Task<WebhookEndpoint?> GetEndpointAsync(string teamId, string id, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand($"SELECT {WebhookRows.EndpointColumns} FROM webhook_endpoints e WHERE e.id = @id AND e.team_id = @team AND e.deleted_at IS NULL");
        cmd.Parameters.AddWithValue("id", id);
        cmd.Parameters.AddWithValue("team", teamId);
        return await WebhookRows.ReadEndpointAsync(cmd, ct);
    }

    /// <summary>Deletes the endpoint (the row stays for the log) and stops its pending deliveries; false when not found.</summary>
    public async Task<bool> DeleteEndpointAsync(string teamId, string id, DateTimeOffset now, CancellationToken ct)
    {
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        await using (var delete = new NpgsqlCommand("UPDATE webhook_endpoints SET deleted_at = @now WHERE id = @id AND team_id = @team AND deleted_at IS NULL", connection, tx))
        {
            delete.Parameters.AddWithValue("id", id);
            delete.Parameters.AddWithValue("team", teamId);
            delete.Parameters.AddWithValue("now", now.UtcDateTime);
            if (await delete.ExecuteNonQueryAsync(ct) == 0)
            {
                return false;
            }
        }
        await WebhookRows.StopPendingAsync(connection, tx, id, "endpoint_deleted", ct);
        await tx.CommitAsync(ct);
        return true;
    }

    /// <summary>Replaces the secret; the old one keeps signing until <paramref name="graceUntil"/>.</summary>
    public async Task<WebhookEndpoint?> RotateSecretAsync(string teamId, string id, string newSecret, DateTimeOffset graceUntil, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand($"""
            UPDATE webhook_endpoints e SET previous_secret = e.secret, previous_secret_until = @until, secret = @secret
            WHERE e.id = @id AND e.team_id = @team AND e.deleted_at IS NULL
            RETURNING {WebhookRows.EndpointColumns}
            """);
        cmd.Parameters.AddWithValue("id", id);
        cmd.Parameters.AddWithValue("team", teamId);
        cmd.Parameters.AddWithValue("secret", newSecret);
        cmd.Parameters.AddWithValue("until", graceUntil.UtcDateTime);
        return await WebhookRows.ReadEndpointAsync(cmd, ct);
    }

    /// <summary>Enables the endpoint again with a clean failure record; null when not found.</summary>
    public async Task<WebhookEndpoint?> EnableAsync(string teamId, string id, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand($"""
            UPDATE webhook_endpoints e SET status = 'enabled', disabled_reason = NULL, disabled_at = NULL, consecutive_failures = 0, failing_since = NULL
            WHERE e.id = @id AND e.team_id = @team AND e.deleted_at IS NULL
            RETURNING {WebhookRows.EndpointColumns}
            """);
        cmd.Parameters.AddWithValue("id", id);
        cmd.Parameters.AddWithValue("team", teamId);
        return await WebhookRows.ReadEndpointAsync(cmd, ct);
    }

    /// <summary>The endpoint's delivery log, newest attempt first.</summary>
    public async Task<IReadOnlyList<DeliveryAttemptRow>> ListAttemptsAsync(string endpointId, int limit, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("""
            SELECT a.delivery_id, d.event_id, ev.type, a.attempt, a.started_at, a.status_code, a.latency_ms, a.error, a.succeeded,
                   a.next_retry_at, d.delivered_at, d.status
            FROM webhook_attempts a
            JOIN webhook_deliveries d ON d.id = a.delivery_id
            JOIN webhook_events ev ON ev.id = d.event_id
            WHERE a.endpoint_id = @endpoint
            ORDER BY a.started_at DESC, a.attempt DESC
            LIMIT @limit
            """);
        cmd.Parameters.AddWithValue("endpoint", endpointId);
        cmd.Parameters.AddWithValue("limit", limit);
        var rows = new List<DeliveryAttemptRow>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            rows.Add(new DeliveryAttemptRow(
                reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetInt32(3), WebhookRows.Utc(reader, 4)!.Value,
                reader.IsDBNull(5) ? null : reader.GetInt32(5), reader.GetDouble(6), reader.IsDBNull(7) ? null : reader.GetString(7),
                reader.GetBoolean(8), WebhookRows.Utc(reader, 9), WebhookRows.Utc(reader, 10), reader.GetString(11)));
        }
        return rows;
    }
}
