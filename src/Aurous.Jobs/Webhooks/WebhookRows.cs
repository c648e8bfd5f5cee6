using Npgsql;

namespace Aurous.Jobs.Webhooks;

/// <summary>The endpoint columns and readers, and stopping an endpoint's pending deliveries, shared by the two webhook stores.</summary>
internal static class WebhookRows
{
    public const string EndpointColumns = """
        e.id, e.team_id, e.url, e.description, e.events, e.secret, e.previous_secret, e.previous_secret_until, e.status,
        e.disabled_reason, e.disabled_at, e.consecutive_failures, e.failing_since, e.created_at
        """;

    public static async Task StopPendingAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string endpointId, string reason, CancellationToken ct)
    {
        await using var stop = new NpgsqlCommand("""
            UPDATE webhook_deliveries SET status = 'cancelled', ended_reason = @reason, next_attempt_at = NULL
            WHERE endpoint_id = @id AND status = 'pending'
            """, connection, tx);
        stop.Parameters.AddWithValue("id", endpointId);
        stop.Parameters.AddWithValue("reason", reason);
        await stop.ExecuteNonQueryAsync(ct);
    }

    public static async Task<WebhookEndpoint?> ReadEndpointAsync(NpgsqlCommand cmd, CancellationToken ct)
    {
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? ReadEndpoint(reader) : null;
    }

    public static WebhookEndpoint ReadEndpoint(NpgsqlDataReader r, int offset = 0) => new(
        r.GetString(offset), r.GetString(offset + 1), r.GetString(offset + 2), r.IsDBNull(offset + 3) ? null : r.GetString(offset + 3),
        r.GetFieldValue<string[]>(offset + 4), r.GetString(offset + 5), r.IsDBNull(offset + 6) ? null : r.GetString(offset + 6),
        Utc(r, offset + 7), r.GetString(offset + 8), r.IsDBNull(offset + 9) ? null : r.GetString(offset + 9), Utc(r, offset + 10),
        r.GetInt32(offset + 11), Utc(r, offset + 12), Utc(r, offset + 13)!.Value);

    public static DateTimeOffset? Utc(NpgsqlDataReader r, int i) =>
        r.IsDBNull(i) ? null : new DateTimeOffset(DateTime.SpecifyKind(r.GetDateTime(i), DateTimeKind.Utc));
}
