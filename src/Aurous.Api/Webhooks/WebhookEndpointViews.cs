using System.Text.Json.Serialization;
using Aurous.Jobs.Webhooks;

namespace Aurous.Api.Webhooks;

/// <summary>A webhook endpoint as the API returns it. <c>secret</c> appears only in the answers to create and rotate_secret.</summary>
public sealed record WebhookEndpointView(
    string Id, string Object, string Url, string? Description, IReadOnlyList<string> Events, string Status, string? DisabledReason,
    long? DisabledAt, long CreatedAt, long? PreviousSecretExpiresAt,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Secret)
{
    public static WebhookEndpointView From(WebhookEndpoint e, DateTimeOffset now, bool withSecret = false) => new(
        e.Id, "webhook_endpoint", e.Url, e.Description, e.Events, e.Status, e.DisabledReason, e.DisabledAt?.ToUnixTimeSeconds(),
        e.CreatedAt.ToUnixTimeSeconds(), e.PreviousSecretUntil > now ? e.PreviousSecretUntil?.ToUnixTimeSeconds() : null,
        withSecret ? e.Secret : null);
}

public sealed record WebhookEndpointList(string Object, IReadOnlyList<WebhookEndpointView> Data, bool HasMore);

public sealed record WebhookEndpointDeleted(string Id, string Object, bool Deleted);

/// <summary>The answer to a test send: the event's id (the webhook-id the receiver will see).</summary>
public sealed record WebhookTestSent(string Id, string Object, string Type, string EndpointId);

/// <summary>One line of an endpoint's delivery log.</summary>
public sealed record WebhookDeliveryAttemptView(
    string Object, string DeliveryId, string EventId, string EventType, int Attempt, long StartedAt, int? StatusCode, double LatencyMs,
    string? Error, bool Succeeded, long? NextRetryAt, long? DeliveredAt, string DeliveryStatus)
{
    public static WebhookDeliveryAttemptView From(DeliveryAttemptRow a) => new(
        "webhook_delivery_attempt", a.DeliveryId, a.EventId, a.EventType, a.Attempt, a.StartedAt.ToUnixTimeSeconds(), a.StatusCode,
        Math.Round(a.LatencyMs, 1), a.Error, a.Succeeded, a.NextRetryAt?.ToUnixTimeSeconds(), a.DeliveredAt?.ToUnixTimeSeconds(), a.DeliveryStatus);
}

public sealed record WebhookDeliveryLog(string Object, IReadOnlyList<WebhookDeliveryAttemptView> Data, bool HasMore);
