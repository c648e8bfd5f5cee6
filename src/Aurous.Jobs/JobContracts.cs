namespace Aurous.Jobs;

/// <summary>What a job makes. Images have ids <c>img_&lt;ULID&gt;</c>, videos <c>vid_&lt;ULID&gt;</c>.</summary>
public enum JobKind { Image, Video }

/// <summary>The job statuses as the API spells them. A job ends in exactly one terminal status.</summary>
public static class JobStatus
{
    public const string Pending = "pending";
    public const string Processing = "processing";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";
    public const string Expired = "expired";
    public const string ModerationRejected = "moderation_rejected";

    public static readonly IReadOnlyList<string> Terminal = [Succeeded, Failed, Cancelled, Expired, ModerationRejected];

    public static bool IsTerminal(string status) => Terminal.Contains(status);
}

/// <summary>The Hangfire queues. The InferenceWorker's servers take all three; the API only enqueues.</summary>
public static class JobQueues
{
    /// <summary>Image and video generation: as many workers as the generator can run at once.</summary>
    public const string Generation = "generation";
    /// <summary>Webhook deliveries and their retries.</summary>
    public const string Webhooks = "webhooks";
    /// <summary>Recurring upkeep: expiring queued jobs, deleting expired output blobs.</summary>
    public const string Maintenance = "maintenance";
}

/// <summary>
/// A job as the client asked for it, after validation by the API; stored with the job and read by the runner.
/// <paramref name="Seed"/> is always set (drawn by the API when the client gave none), so that a retried run makes the
/// same bytes. <paramref name="DurationSeconds"/> is set for videos only.
/// </summary>
public sealed record GenerationSpec(
    string Model, string Prompt, string? NegativePrompt, string Size, int Width, int Height, int N, long Seed,
    string? LoraId, double? DurationSeconds);

/// <summary>
/// The Hangfire job that runs one generation job to its terminal status. The API enqueues it by this interface
/// (on <see cref="JobQueues.Generation"/>); the InferenceWorker implements it. Running a job twice (a retry after a crash)
/// ends with one output set and one charge.
/// </summary>
public interface IGenerationJobs
{
    Task RunAsync(string jobId, CancellationToken cancellationToken);
}

/// <summary>
/// Webhook events (Standard Webhooks). <see cref="PublishAsync"/> records the event and schedules its delivery to
/// every enabled endpoint of the team subscribed to <paramref name="eventType"/>. It is idempotent per
/// (<paramref name="subjectId"/>, <paramref name="eventType"/>): publishing the same event twice (a retried job) delivers
/// it once, with one webhook-id.
/// </summary>
public interface IWebhookEvents
{
    /// <param name="eventType">e.g. <c>image.succeeded</c>, <c>video.moderation_rejected</c>.</param>
    /// <param name="payloadJson">The job object exactly as <c>GET /v1/images/{id}</c> returns it.</param>
    Task PublishAsync(string teamId, string eventType, string subjectId, ReadOnlyMemory<byte> payloadJson, CancellationToken cancellationToken);
}

/// <summary>Event type names: <c>{image|video}.{terminal status}</c>, plus the test event.</summary>
public static class WebhookEventTypes
{
    public const string Test = "webhook.test";

    public static string For(JobKind kind, string terminalStatus) => $"{(kind == JobKind.Image ? "image" : "video")}.{terminalStatus}";

    public static readonly IReadOnlyList<string> All =
    [
        .. JobStatus.Terminal.Select(s => "image." + s),
        .. JobStatus.Terminal.Select(s => "video." + s),
    ];
}
