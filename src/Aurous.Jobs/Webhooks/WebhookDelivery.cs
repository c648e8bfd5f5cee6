using System.Diagnostics;
using Hangfire;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Aurous.Jobs.Webhooks;

/// <summary>
/// The Hangfire jobs of webhook delivery, run by the InferenceWorker's webhook server. Each attempt is its own job: it
/// signs and sends, records the attempt, and on failure schedules the next one itself with exponential backoff and
/// full jitter, until the retry window is spent or the endpoint is disabled or deleted. Infrastructure faults
/// (database down) throw, so Hangfire retries the job; what the receiver does never throws.
/// </summary>
public sealed class WebhookDelivery(
    WebhookDeliveryStore store, WebhookSender sender, IBackgroundJobClient jobs, IOptions<WebhookOptions> options, TimeProvider clock, ILogger<WebhookDelivery> log)
{
    /// <summary>Attempt number <paramref name="attempt"/> (from 1) of delivery <paramref name="deliveryId"/>.</summary>
    [Queue(JobQueues.Webhooks)]
    [AutomaticRetry(Attempts = 5)]
    public async Task AttemptAsync(string deliveryId, int attempt, CancellationToken cancellationToken)
    {
        var delivery = await store.GetDeliveryAsync(deliveryId, cancellationToken);
        if (delivery is null || delivery.Status != DeliveryStatus.Pending)
        {
            return;
        }
        if (delivery.Attempts >= attempt)
        {
            // This attempt was made and recorded; if the run stopped before scheduling the next, schedule it now.
            if (delivery.Attempts == attempt && delivery.NextAttemptAt is { } next)
            {
                ScheduleNext(deliveryId, attempt + 1, next - clock.GetUtcNow());
            }
            return;
        }
        if (delivery.Endpoint is not { } endpoint)
        {
            await store.StopDeliveryAsync(deliveryId, "endpoint_deleted", cancellationToken);
            return;
        }
        if (!endpoint.IsEnabled)
        {
            await store.StopDeliveryAsync(deliveryId, "endpoint_disabled", cancellationToken);
            return;
        }

        ActivityContext.TryParse(delivery.TraceParent, delivery.TraceState, isRemote: true, out var publisher);
        using var activity = WebhookTelemetry.Source.StartActivity("webhook deliver", ActivityKind.Internal, publisher);
        activity?.SetTag("webhook.event_id", delivery.EventId);
        activity?.SetTag("webhook.event_type", delivery.EventType);
        activity?.SetTag("webhook.endpoint_id", endpoint.Id);
        activity?.SetTag("webhook.attempt", attempt);

        var now = clock.GetUtcNow();
        // webhook-timestamp is wall-clock time: receivers judge it against their own clock (replay protection).
        var timestamp = TimeProvider.System.GetUtcNow();
        var signature = WebhookSigner.Signature(endpoint, delivery.EventId, timestamp, delivery.Body, now);
        var result = await sender.SendAsync(endpoint.Url, delivery.EventId, timestamp, signature, delivery.Body, cancellationToken);

        var settings = options.Value;
        var after = clock.GetUtcNow();
        DateTimeOffset? nextAt = !result.Succeeded && after < delivery.CreatedAt + settings.RetryWindow
            ? after + Backoff(attempt, settings)
            : null;
        var (recorded, disabled) = await store.RecordAttemptAsync(delivery, attempt, now, result, nextAt, after,
            settings.DisableAfterConsecutiveFailures, settings.DisableAfterFailingFor, cancellationToken);

        WebhookTelemetry.Attempts.Add(1, new KeyValuePair<string, object?>("outcome", result.Succeeded ? "succeeded" : "failed"));
        WebhookTelemetry.AttemptDuration.Record(result.Latency.TotalSeconds);
        activity?.SetTag("http.response.status_code", result.StatusCode);
        if (!result.Succeeded)
        {
            activity?.SetStatus(ActivityStatusCode.Error, result.Error);
        }
        if (disabled)
        {
            WebhookTelemetry.EndpointsDisabled.Add(1);
            log.LogWarning("Webhook endpoint {EndpointId} disabled after repeated failures; the last: {Error}", endpoint.Id, result.Error);
        }
        if (recorded && nextAt is { } retryAt && !disabled)
        {
            ScheduleNext(deliveryId, attempt + 1, retryAt - after);
        }
    }

    /// <summary>Hands over first attempts whose publisher stopped between recording the event and enqueueing (recurring).</summary>
    [Queue(JobQueues.Maintenance)]
    [AutomaticRetry(Attempts = 0)]
    public async Task RequeueUnqueuedAsync(CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var stranded = await store.UnqueuedDeliveriesAsync(now - TimeSpan.FromMinutes(1), cancellationToken);
        await WebhookEvents.EnqueueAsync(store, jobs, stranded, now, cancellationToken);
    }

    /// <summary>Full jitter: uniform in [0, min(max, base x 2^(attempt-1))].</summary>
    public static TimeSpan Backoff(int attempt, WebhookOptions options)
    {
        var window = options.RetryBaseDelay.TotalSeconds * Math.Pow(2, Math.Min(attempt - 1, 40));
        return TimeSpan.FromSeconds(Random.Shared.NextDouble() * Math.Min(window, options.RetryMaxDelay.TotalSeconds));
    }

    private void ScheduleNext(string deliveryId, int attempt, TimeSpan delay) =>
        jobs.Schedule<WebhookDelivery>(d => d.AttemptAsync(deliveryId, attempt, CancellationToken.None), delay < TimeSpan.Zero ? TimeSpan.Zero : delay);
}
