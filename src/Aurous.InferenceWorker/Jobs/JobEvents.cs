using Aurous.Jobs;
using Microsoft.Extensions.Options;

namespace Aurous.InferenceWorker.Jobs;

/// <summary>
/// Publishes a job's terminal event (<c>image.succeeded</c>, <c>video.cancelled</c>, ...) with the job object exactly as
/// the API renders it. Publishing is idempotent per job and event type, so every path that sees a job end (the run, a
/// retried run, upkeep, the end of retries) publishes, and the team receives one delivery. Without webhook delivery
/// in this process (no <see cref="IWebhookEvents"/> registered), nothing is published.
/// </summary>
public sealed class JobEvents(IServiceProvider services, IOptions<OutputsOptions> outputs, TimeProvider clock)
{
    private readonly IWebhookEvents? _webhooks = services.GetService<IWebhookEvents>();

    public async Task PublishAsync(JobRow job, CancellationToken ct)
    {
        if (_webhooks is null || !JobStatus.IsTerminal(job.Status))
        {
            return;
        }
        using var span = JobTelemetry.StartStep("publish job event");
        var payload = JobView.Render(job, outputs.Value.BaseUri, clock.GetUtcNow());
        var eventType = WebhookEventTypes.For(job.Kind, job.Status);
        span?.SetTag("aurous.webhook.event_type", eventType);
        await _webhooks.PublishAsync(job.TeamId, eventType, job.Id, payload, ct);
    }
}
