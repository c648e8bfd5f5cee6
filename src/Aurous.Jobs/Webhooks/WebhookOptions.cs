namespace Aurous.Jobs.Webhooks;

/// <summary>Webhook delivery settings (section <c>Webhooks</c>), the same on the API and the InferenceWorker.</summary>
public sealed class WebhookOptions
{
    public const string Section = "Webhooks";

    /// <summary>
    /// Development only: endpoints may be on loopback and private networks. Off, an endpoint must resolve to a public
    /// internet address, checked at creation and again on every connection.
    /// </summary>
    public bool AllowPrivateNetworks { get; set; }

    /// <summary>One attempt (connect, send, answer) takes at most this long; longer counts as a failed attempt.</summary>
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The backoff's first window: the delay before retry n is drawn uniformly from [0, min(MaxDelay, BaseDelay x 2^(n-1))].</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The longest wait between two attempts.</summary>
    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromHours(6);

    /// <summary>A delivery is retried until this long after its first attempt, then ends failed.</summary>
    public TimeSpan RetryWindow { get; set; } = TimeSpan.FromDays(3);

    /// <summary>An endpoint is disabled after this many failed attempts in a row (no success between)...</summary>
    public int DisableAfterConsecutiveFailures { get; set; } = 15;

    /// <summary>...once its first failure in the row is at least this old.</summary>
    public TimeSpan DisableAfterFailingFor { get; set; } = TimeSpan.FromDays(2);

    /// <summary>How long a rotated-out secret still signs (both signatures go in webhook-signature).</summary>
    public TimeSpan RotationGrace { get; set; } = TimeSpan.FromHours(24);

    /// <summary>Endpoints one team may have.</summary>
    public int MaxEndpointsPerTeam { get; set; } = 16;

    internal bool IsValid() => AttemptTimeout > TimeSpan.Zero && RetryBaseDelay > TimeSpan.Zero && RetryMaxDelay >= RetryBaseDelay
        && RetryWindow >= TimeSpan.Zero && DisableAfterConsecutiveFailures > 0 && DisableAfterFailingFor >= TimeSpan.Zero
        && RotationGrace >= TimeSpan.Zero && MaxEndpointsPerTeam > 0;
}
