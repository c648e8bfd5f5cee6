using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Hangfire;

namespace Aurous.Jobs.Webhooks;

/// <summary>
/// Publishes webhook events (<see cref="IWebhookEvents"/>): records the event once per (team, subject, type) with its
/// body and the publisher's trace context, then hands one delivery per subscribed, enabled endpoint to Hangfire on
/// <see cref="JobQueues.Webhooks"/>. The body is the Standard Webhooks envelope
/// <c>{"type": ..., "timestamp": ..., "data": &lt;the job object&gt;}</c>, fixed at publication, so every attempt sends
/// (and signs) the same bytes under the same webhook-id.
/// </summary>
public sealed class WebhookEvents(WebhookDeliveryStore store, IBackgroundJobClient jobs, TimeProvider clock) : IWebhookEvents
{
    public async Task PublishAsync(string teamId, string eventType, string subjectId, ReadOnlyMemory<byte> payloadJson, CancellationToken cancellationToken)
    {
        if (!WebhookEventTypes.All.Contains(eventType))
        {
            throw new ArgumentException($"'{eventType}' is not a webhook event type.", nameof(eventType));
        }
        await PublishAsync(teamId, eventType, subjectId, payloadJson, onlyEndpointId: null, cancellationToken);
    }

    /// <summary>Sends a <c>webhook.test</c> event to one endpoint (whatever it subscribes to); returns the event's id.</summary>
    public async Task<string> PublishTestAsync(WebhookEndpoint endpoint, CancellationToken cancellationToken)
    {
        var subject = Persistence.Ulid.NewId("whtest");
        var data = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string>
        {
            ["endpoint_id"] = endpoint.Id,
            ["test_id"] = subject,
            ["message"] = "A test event from Aurous. Verify its signature with your endpoint's secret.",
        });
        return await PublishAsync(endpoint.TeamId, WebhookEventTypes.Test, subject, data, endpoint.Id, cancellationToken);
    }

    private async Task<string> PublishAsync(
        string teamId, string eventType, string subjectId, ReadOnlyMemory<byte> data, string? onlyEndpointId, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var publisher = Activity.Current;
        var (eventId, deliveries) = await store.RecordEventAsync(
            teamId, eventType, subjectId, Envelope(eventType, now, data), publisher?.Id, publisher?.TraceStateString, onlyEndpointId, now, cancellationToken);
        await EnqueueAsync(store, jobs, deliveries, now, cancellationToken);
        return eventId;
    }

    /// <summary>Hands deliveries' first attempts to Hangfire and notes it (deliveries never noted are handed over again by the sweep).</summary>
    internal static async Task EnqueueAsync(WebhookDeliveryStore store, IBackgroundJobClient jobs, IReadOnlyList<string> deliveries, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (deliveries.Count == 0)
        {
            return;
        }
        foreach (var id in deliveries)
        {
            jobs.Enqueue<WebhookDelivery>(d => d.AttemptAsync(id, 1, CancellationToken.None));
        }
        await store.MarkEnqueuedAsync(deliveries, now, cancellationToken);
    }

    private static string Envelope(string eventType, DateTimeOffset now, ReadOnlyMemory<byte> data)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("type", eventType);
            json.WriteString("timestamp", now.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture));
            json.WritePropertyName("data");
            json.WriteRawValue(data.Span, skipInputValidation: false);
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }
}
