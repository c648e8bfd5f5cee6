using Hangfire;
using Npgsql;

namespace Aurous.Jobs.Webhooks;

/// <summary>How a request to deliver an ended delivery again went.</summary>
public enum RedeliverOutcome
{
    /// <summary>The delivery is pending again and its next attempt is in the queue.</summary>
    Queued,

    /// <summary>No such delivery for the team (or its endpoint was deleted).</summary>
    NotFound,

    /// <summary>The delivery has not ended: it succeeded, or it is still being retried.</summary>
    NotEnded,

    /// <summary>The endpoint is disabled; enable it first.</summary>
    EndpointDisabled,
}

/// <summary>
/// Delivers a failed or stopped delivery again, on a team member's request: the delivery goes back to pending and its
/// next attempt is handed to the same job that makes every attempt (<see cref="WebhookDelivery.AttemptAsync"/>), with
/// the event's original body and webhook-id. A failed retry is retried automatically while the delivery's retry window
/// lasts, like any other attempt.
/// </summary>
public sealed class WebhookRedelivery(NpgsqlDataSource db, IBackgroundJobClient jobs)
{
    public async Task<RedeliverOutcome> RedeliverAsync(string teamId, string deliveryId, CancellationToken ct)
    {
        // One statement reopens the delivery only if it ended and belongs to an enabled endpoint of the team, so two
        // clicks (or two members) reopen it once.
        await using (var reopen = db.CreateCommand("""
            UPDATE webhook_deliveries d SET status = 'pending', ended_reason = NULL, next_attempt_at = NULL
            FROM webhook_endpoints e
            WHERE d.id = @id AND e.id = d.endpoint_id AND e.team_id = @team AND e.deleted_at IS NULL AND e.status = 'enabled'
              AND d.status IN ('failed', 'cancelled')
            RETURNING d.attempts
            """))
        {
            reopen.Parameters.AddWithValue("id", deliveryId);
            reopen.Parameters.AddWithValue("team", teamId);
            if (await reopen.ExecuteScalarAsync(ct) is int attempts)
            {
                // The attempt number after the last recorded one: the job skips numbers already recorded.
                jobs.Enqueue<WebhookDelivery>(d => d.AttemptAsync(deliveryId, attempts + 1, CancellationToken.None));
                return RedeliverOutcome.Queued;
            }
        }

        await using var why = db.CreateCommand("""
            SELECT d.status, e.status FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
            WHERE d.id = @id AND e.team_id = @team AND e.deleted_at IS NULL
            """);
        why.Parameters.AddWithValue("id", deliveryId);
        why.Parameters.AddWithValue("team", teamId);
        await using var reader = await why.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct))
        {
            return RedeliverOutcome.NotFound;
        }
        var deliveryStatus = reader.GetString(0);
        var endpointStatus = reader.GetString(1);
        return deliveryStatus is DeliveryStatus.Failed or DeliveryStatus.Cancelled && endpointStatus != WebhookEndpoint.Enabled
            ? RedeliverOutcome.EndpointDisabled
            : RedeliverOutcome.NotEnded;
    }

    /// <summary>Whether a delivery in <paramref name="deliveryStatus"/> can be delivered again (the dashboard's Retry button).</summary>
    public static bool CanRedeliver(string deliveryStatus) => deliveryStatus is DeliveryStatus.Failed or DeliveryStatus.Cancelled;
}
