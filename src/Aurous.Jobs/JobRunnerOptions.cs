namespace Aurous.Jobs;

/// <summary>The Hangfire servers of the InferenceWorker (section <c>JobRunner</c>).</summary>
public sealed class JobRunnerOptions
{
    public const string Section = "JobRunner";

    /// <summary>Generation jobs run at once: what the generator can run side by side (one per GPU, or per CPU socket).</summary>
    public int GenerationWorkers { get; set; } = 1;

    /// <summary>Webhook deliveries and upkeep jobs run at once.</summary>
    public int WebhookWorkers { get; set; } = 4;

    /// <summary>
    /// A fetched job whose server stopped sending heartbeats (killed) goes back to its queue after this long.
    /// Running jobs keep their claim by heartbeat however long they take (sliding invisibility).
    /// </summary>
    public TimeSpan InvisibilityTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>How often an idle server looks for new jobs: a job submitted to an idle runner waits up to this long to start.</summary>
    public TimeSpan QueuePollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How often the servers move due retries and recurring upkeep onto their queues.</summary>
    public TimeSpan SchedulePollInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Runs of one generation job at most: the first and its retries after an infrastructure fault (database, blob
    /// storage) or a crash. After the last, the job ends <c>failed</c> with its hold released.
    /// </summary>
    public int GenerationAttempts { get; set; } = 4;

    /// <summary>Seconds before each retry of a generation job (the last value repeats); empty: 5, 30, 120.</summary>
    /// <remarks>Empty by default: configuration appends to an array rather than replacing it.</remarks>
    public int[] RetryDelaysSeconds { get; set; } = [];

    public int[] RetryDelays => RetryDelaysSeconds is [_, ..] ? RetryDelaysSeconds : [5, 30, 120];

    /// <summary>
    /// The upkeep schedule (cron, five fields, or six with seconds first): expiring queued jobs past their deadline and
    /// deleting expired output blobs.
    /// </summary>
    public string UpkeepCron { get; set; } = "* * * * *";

    internal bool IsValid() => GenerationWorkers > 0 && WebhookWorkers > 0 && InvisibilityTimeout > TimeSpan.Zero && QueuePollInterval > TimeSpan.Zero
        && SchedulePollInterval > TimeSpan.Zero && GenerationAttempts > 0 && RetryDelaysSeconds.All(d => d >= 0)
        && !string.IsNullOrWhiteSpace(UpkeepCron);
}
