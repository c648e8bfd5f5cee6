using Npgsql;
using NpgsqlTypes;

namespace Aurous.Jobs.Webhooks;

/// <summary>
/// Webhook events, their deliveries and the attempts to deliver them, in Postgres. Times come from the caller's clock.
/// Every change a delivery attempt makes (the log line, the delivery, the endpoint's failure count and, when the rule
/// says so, disabling it and stopping its pending deliveries) is one transaction.
/// </summary>
public sealed class WebhookDeliveryStore(NpgsqlDataSource db)
{
    // ---- Events -----------------------------------------------------------------------------------------------

    /// <summary>
    /// Records the event and one pending delivery per enabled endpoint of the team subscribed to its type (or, with
    /// <paramref name="onlyEndpointId"/>, to that endpoint alone), in one transaction. Returns the deliveries still to
    /// hand to the queue: the new ones, or, when the event was recorded before, those its publisher never handed over.
    /// </summary>
    public async Task<(string EventId, IReadOnlyList<string> DeliveryIds)> RecordEventAsync(
        string teamId, string type, string subjectId, string body, string? traceParent, string? traceState, string? onlyEndpointId,
        DateTimeOffset now, CancellationToken ct)
    {
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        string? eventId;
        await using (var insert = new NpgsqlCommand("""
            INSERT INTO webhook_events (id, team_id, type, subject_id, body, trace_parent, trace_state, created_at)
            VALUES (@id, @team, @type, @subject, @body, @traceparent, @tracestate, @now)
            ON CONFLICT (team_id, subject_id, type) DO NOTHING
            RETURNING id
            """, connection, tx))
        {
            insert.Parameters.AddWithValue("id", Persistence.Ulid.NewId("msg"));
            insert.Parameters.AddWithValue("team", teamId);
            insert.Parameters.AddWithValue("type", type);
            insert.Parameters.AddWithValue("subject", subjectId);
            insert.Parameters.AddWithValue("body", body);
            insert.Parameters.AddWithValue("traceparent", (object?)traceParent ?? DBNull.Value);
            insert.Parameters.AddWithValue("tracestate", (object?)traceState ?? DBNull.Value);
            insert.Parameters.AddWithValue("now", now.UtcDateTime);
            eventId = (string?)await insert.ExecuteScalarAsync(ct);
        }

        var deliveries = new List<string>();
        if (eventId is not null)
        {
            var endpoints = new List<string>();
            await using (var subscribed = new NpgsqlCommand("""
                SELECT e.id FROM webhook_endpoints e
                WHERE e.team_id = @team AND e.deleted_at IS NULL AND e.status = 'enabled'
                  AND (CASE WHEN @only::text IS NULL THEN @type = ANY(e.events) ELSE e.id = @only::text END)
                ORDER BY e.id
                """, connection, tx))
            {
                subscribed.Parameters.AddWithValue("team", teamId);
                subscribed.Parameters.AddWithValue("type", type);
                subscribed.Parameters.Add(new NpgsqlParameter("only", NpgsqlDbType.Text) { Value = (object?)onlyEndpointId ?? DBNull.Value });
                await using var reader = await subscribed.ExecuteReaderAsync(ct);
                while (await reader.ReadAsync(ct))
                {
                    endpoints.Add(reader.GetString(0));
                }
            }
            foreach (var endpoint in endpoints)
            {
                await using var fanOut = new NpgsqlCommand(
                    "INSERT INTO webhook_deliveries (id, event_id, endpoint_id, status, created_at) VALUES (@id, @event, @endpoint, 'pending', @now)", connection, tx);
                var id = Persistence.Ulid.NewId("whd");
                fanOut.Parameters.AddWithValue("id", id);
                fanOut.Parameters.AddWithValue("event", eventId);
                fanOut.Parameters.AddWithValue("endpoint", endpoint);
                fanOut.Parameters.AddWithValue("now", now.UtcDateTime);
                await fanOut.ExecuteNonQueryAsync(ct);
                deliveries.Add(id);
            }
        }
        else
        {
            await using var existing = new NpgsqlCommand("""
                SELECT ev.id, d.id FROM webhook_events ev
                LEFT JOIN webhook_deliveries d ON d.event_id = ev.id AND d.status = 'pending' AND d.enqueued_at IS NULL
                WHERE ev.team_id = @team AND ev.subject_id = @subject AND ev.type = @type
                """, connection, tx);
            existing.Parameters.AddWithValue("team", teamId);
            existing.Parameters.AddWithValue("subject", subjectId);
            existing.Parameters.AddWithValue("type", type);
            await using var reader = await existing.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                eventId = reader.GetString(0);
                if (!reader.IsDBNull(1))
                {
                    deliveries.Add(reader.GetString(1));
                }
            }
        }
        await tx.CommitAsync(ct);
        return (eventId!, deliveries);
    }

    /// <summary>Notes that the deliveries' first attempts are in the queue.</summary>
    public async Task MarkEnqueuedAsync(IReadOnlyList<string> deliveryIds, DateTimeOffset now, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("UPDATE webhook_deliveries SET enqueued_at = @now WHERE id = ANY(@ids) AND enqueued_at IS NULL");
        cmd.Parameters.AddWithValue("ids", deliveryIds.ToArray());
        cmd.Parameters.AddWithValue("now", now.UtcDateTime);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Pending deliveries recorded before <paramref name="before"/> whose first attempt never reached the queue.</summary>
    public async Task<IReadOnlyList<string>> UnqueuedDeliveriesAsync(DateTimeOffset before, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("SELECT id FROM webhook_deliveries WHERE status = 'pending' AND enqueued_at IS NULL AND created_at < @before ORDER BY created_at LIMIT 500");
        cmd.Parameters.AddWithValue("before", before.UtcDateTime);
        var ids = new List<string>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            ids.Add(reader.GetString(0));
        }
        return ids;
    }

    // ---- Delivery attempts (the worker) ------------------------------------------------------------------------

    public async Task<PendingDelivery?> GetDeliveryAsync(string deliveryId, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand($"""
            SELECT d.id, d.status, d.attempts, d.next_attempt_at, d.created_at, ev.id, ev.type, ev.body, ev.trace_parent, ev.trace_state,
                   e.deleted_at IS NOT NULL, {WebhookRows.EndpointColumns}
            FROM webhook_deliveries d
            JOIN webhook_events ev ON ev.id = d.event_id
            JOIN webhook_endpoints e ON e.id = d.endpoint_id
            WHERE d.id = @id
            """);
        cmd.Parameters.AddWithValue("id", deliveryId);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct))
        {
            return null;
        }
        var deleted = reader.GetBoolean(10);
        return new PendingDelivery(
            reader.GetString(0), reader.GetString(1), reader.GetInt32(2), WebhookRows.Utc(reader, 3), WebhookRows.Utc(reader, 4)!.Value,
            reader.GetString(5), reader.GetString(6), reader.GetString(7),
            reader.IsDBNull(8) ? null : reader.GetString(8), reader.IsDBNull(9) ? null : reader.GetString(9),
            deleted ? null : WebhookRows.ReadEndpoint(reader, offset: 11));
    }

    /// <summary>Ends a pending delivery without another attempt (its endpoint is gone or disabled).</summary>
    public async Task StopDeliveryAsync(string deliveryId, string reason, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("UPDATE webhook_deliveries SET status = 'cancelled', ended_reason = @reason, next_attempt_at = NULL WHERE id = @id AND status = 'pending'");
        cmd.Parameters.AddWithValue("id", deliveryId);
        cmd.Parameters.AddWithValue("reason", reason);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>
    /// Records attempt <paramref name="attempt"/> and its consequences. <paramref name="nextRetryAt"/> null on a failure
    /// means the retry window is spent. Returns false when this attempt was recorded before (a rerun after a crash),
    /// and whether the endpoint was disabled by it.
    /// </summary>
    public async Task<(bool Recorded, bool EndpointDisabled)> RecordAttemptAsync(
        PendingDelivery delivery, int attempt, DateTimeOffset startedAt, AttemptResult result, DateTimeOffset? nextRetryAt,
        DateTimeOffset now, int disableAfterFailures, TimeSpan disableAfterFailingFor, CancellationToken ct)
    {
        var endpointId = delivery.Endpoint!.Id;
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        await using (var log = new NpgsqlCommand("""
            INSERT INTO webhook_attempts (delivery_id, attempt, endpoint_id, started_at, status_code, latency_ms, error, succeeded, next_retry_at)
            VALUES (@delivery, @attempt, @endpoint, @started, @code, @latency, @error, @ok, @next)
            ON CONFLICT (delivery_id, attempt) DO NOTHING
            """, connection, tx))
        {
            log.Parameters.AddWithValue("delivery", delivery.Id);
            log.Parameters.AddWithValue("attempt", attempt);
            log.Parameters.AddWithValue("endpoint", endpointId);
            log.Parameters.AddWithValue("started", startedAt.UtcDateTime);
            log.Parameters.AddWithValue("code", (object?)result.StatusCode ?? DBNull.Value);
            log.Parameters.AddWithValue("latency", result.Latency.TotalMilliseconds);
            log.Parameters.AddWithValue("error", (object?)result.Error ?? DBNull.Value);
            log.Parameters.AddWithValue("ok", result.Succeeded);
            log.Parameters.Add(new NpgsqlParameter("next", NpgsqlDbType.TimestampTz) { Value = (object?)nextRetryAt?.UtcDateTime ?? DBNull.Value });
            if (await log.ExecuteNonQueryAsync(ct) == 0)
            {
                return (false, false);
            }
        }

        await using (var update = new NpgsqlCommand("""
            UPDATE webhook_deliveries SET attempts = @attempt, status = @status, next_attempt_at = @next,
                delivered_at = CASE WHEN @ok THEN @now ELSE NULL END,
                ended_reason = CASE WHEN @status = 'failed' THEN 'retry_window_exhausted' ELSE NULL END
            WHERE id = @id AND status = 'pending'
            """, connection, tx))
        {
            update.Parameters.AddWithValue("id", delivery.Id);
            update.Parameters.AddWithValue("attempt", attempt);
            update.Parameters.AddWithValue("status", result.Succeeded ? DeliveryStatus.Succeeded : nextRetryAt is null ? DeliveryStatus.Failed : DeliveryStatus.Pending);
            update.Parameters.Add(new NpgsqlParameter("next", NpgsqlDbType.TimestampTz) { Value = (object?)nextRetryAt?.UtcDateTime ?? DBNull.Value });
            update.Parameters.AddWithValue("ok", result.Succeeded);
            update.Parameters.AddWithValue("now", now.UtcDateTime);
            await update.ExecuteNonQueryAsync(ct);
        }

        var disabled = false;
        if (result.Succeeded)
        {
            await using var healthy = new NpgsqlCommand("UPDATE webhook_endpoints SET consecutive_failures = 0, failing_since = NULL WHERE id = @id", connection, tx);
            healthy.Parameters.AddWithValue("id", endpointId);
            await healthy.ExecuteNonQueryAsync(ct);
        }
        else
        {
            // One statement counts the failure and applies the disabling rule, so concurrent attempts cannot miss it.
            await using var failing = new NpgsqlCommand("""
                UPDATE webhook_endpoints SET
                    consecutive_failures = consecutive_failures + 1,
                    failing_since = COALESCE(failing_since, @started),
                    status = CASE WHEN status = 'enabled' AND consecutive_failures + 1 >= @max_failures
                                   AND COALESCE(failing_since, @started) <= @now - @failing_for THEN 'disabled' ELSE status END,
                    disabled_reason = CASE WHEN status = 'enabled' AND consecutive_failures + 1 >= @max_failures
                                   AND COALESCE(failing_since, @started) <= @now - @failing_for THEN @reason ELSE disabled_reason END,
                    disabled_at = CASE WHEN status = 'enabled' AND consecutive_failures + 1 >= @max_failures
                                   AND COALESCE(failing_since, @started) <= @now - @failing_for THEN @now ELSE disabled_at END
                WHERE id = @id
                RETURNING status = 'disabled' AND disabled_at = @now
                """, connection, tx);
            failing.Parameters.AddWithValue("id", endpointId);
            failing.Parameters.AddWithValue("started", startedAt.UtcDateTime);
            failing.Parameters.AddWithValue("now", now.UtcDateTime);
            failing.Parameters.AddWithValue("max_failures", disableAfterFailures);
            failing.Parameters.AddWithValue("failing_for", disableAfterFailingFor);
            failing.Parameters.AddWithValue("reason",
                $"{disableAfterFailures} or more delivery attempts in a row failed over at least {Describe(disableAfterFailingFor)}; the last: {result.Error}");
            disabled = await failing.ExecuteScalarAsync(ct) is true;
            if (disabled)
            {
                await WebhookRows.StopPendingAsync(connection, tx, endpointId, "endpoint_disabled", ct);
            }
        }
        await tx.CommitAsync(ct);
        return (true, disabled);
    }

    private static string Describe(TimeSpan span) => span.TotalHours >= 1 ? $"{span.TotalHours:0.#} h" : $"{span.TotalSeconds:0} s";
}
