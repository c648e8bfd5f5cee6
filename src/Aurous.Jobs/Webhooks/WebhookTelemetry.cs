using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Aurous.Jobs.Webhooks;

/// <summary>
/// Webhook telemetry: one span per delivery attempt, a child of the span that published the event (the job's trace
/// for job events, the API request's for test events); attempts by outcome and their duration.
/// </summary>
public static class WebhookTelemetry
{
    public const string Name = "Aurous.Webhooks";

    public static readonly ActivitySource Source = new(Name);

    private static readonly Meter Meter = new(Name);

    /// <summary>Attempts, tagged <c>outcome</c> = succeeded | failed.</summary>
    public static readonly Counter<long> Attempts = Meter.CreateCounter<long>("aurous.webhooks.attempts", "{attempt}", "Webhook delivery attempts.");

    public static readonly Histogram<double> AttemptDuration = Meter.CreateHistogram<double>("aurous.webhooks.attempt_duration", "s", "Time from connect to the receiver's answer.");

    /// <summary>Endpoints disabled by the failure rule.</summary>
    public static readonly Counter<long> EndpointsDisabled = Meter.CreateCounter<long>("aurous.webhooks.endpoints_disabled", "{endpoint}", "Endpoints disabled after failing.");
}
