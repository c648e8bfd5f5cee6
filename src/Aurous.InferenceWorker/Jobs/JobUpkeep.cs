using Aurous.Jobs;
using Hangfire;

namespace Aurous.InferenceWorker.Jobs;

/// <summary>
/// The recurring upkeep jobs (queue <see cref="JobQueues.Maintenance"/>, schedule <see cref="JobRunnerOptions.UpkeepCron"/>):
/// open jobs past their queue deadline end <c>expired</c> (hold released, event published), and output blobs past
/// their expiry are deleted. Both are idempotent and pick up where an interrupted run stopped, so a failed run is not
/// retried: the next one comes within the schedule's period.
/// </summary>
public sealed class JobUpkeep(JobStore store, OutputBlobs blobs, JobEvents events, ILogger<JobUpkeep> log)
{
    public const string ExpireOverdueJobsId = "jobs:expire-overdue";
    public const string DeleteExpiredOutputsId = "jobs:delete-expired-outputs";

    private const int Batch = 200;

    [AutomaticRetry(Attempts = 0)]
    public async Task ExpireOverdueJobsAsync(CancellationToken cancellationToken)
    {
        var expired = await store.ExpireOverdueAsync(cancellationToken);
        foreach (var id in expired)
        {
            if (await store.GetByIdAsync(id, cancellationToken) is { } job)
            {
                JobTelemetry.RecordCompleted(job.Kind, job.Status);
                await events.PublishAsync(job, cancellationToken);
            }
        }
        if (expired.Count > 0)
        {
            log.LogInformation("Expired {Count} job(s) past their queue deadline", expired.Count);
        }
    }

    [AutomaticRetry(Attempts = 0)]
    public async Task DeleteExpiredOutputsAsync(CancellationToken cancellationToken)
    {
        var deleted = 0;
        while (true)
        {
            var due = await store.ExpiredOutputsAsync(Batch, cancellationToken);
            foreach (var output in due)
            {
                await blobs.DeleteAsync(output.BlobName, cancellationToken);
                await store.MarkOutputDeletedAsync(output.Token, cancellationToken);
                deleted++;
            }
            if (due.Count < Batch)
            {
                break;
            }
        }
        if (deleted > 0)
        {
            log.LogInformation("Deleted {Count} expired output blob(s)", deleted);
        }
    }
}
