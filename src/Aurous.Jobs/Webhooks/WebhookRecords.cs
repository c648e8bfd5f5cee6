namespace Aurous.Jobs.Webhooks;

/// <summary>A team's webhook endpoint (a row of <c>webhook_endpoints</c>).</summary>
public sealed record WebhookEndpoint(
    string Id, string TeamId, string Url, string? Description, IReadOnlyList<string> Events, string Secret,
    string? PreviousSecret, DateTimeOffset? PreviousSecretUntil, string Status, string? DisabledReason, DateTimeOffset? DisabledAt,
    int ConsecutiveFailures, DateTimeOffset? FailingSince, DateTimeOffset CreatedAt)
{
    public const string Enabled = "enabled";
    public const string Disabled = "disabled";

    public bool IsEnabled => Status == Enabled;
}

/// <summary>What one delivery attempt needs: the delivery, its event and its endpoint (null once deleted).</summary>
public sealed record PendingDelivery(
    string Id, string Status, int Attempts, DateTimeOffset? NextAttemptAt, DateTimeOffset CreatedAt,
    string EventId, string EventType, string Body, string? TraceParent, string? TraceState,
    WebhookEndpoint? Endpoint);

/// <summary>How one attempt went: an HTTP status (null when none came back), how long it took, and what went wrong.</summary>
public sealed record AttemptResult(int? StatusCode, TimeSpan Latency, string? Error)
{
    public bool Succeeded => StatusCode is >= 200 and < 300;
}

/// <summary>One line of an endpoint's delivery log.</summary>
public sealed record DeliveryAttemptRow(
    string DeliveryId, string EventId, string EventType, int Attempt, DateTimeOffset StartedAt, int? StatusCode, double LatencyMs,
    string? Error, bool Succeeded, DateTimeOffset? NextRetryAt, DateTimeOffset? DeliveredAt, string DeliveryStatus);

/// <summary>Delivery statuses.</summary>
public static class DeliveryStatus
{
    public const string Pending = "pending";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";
}
