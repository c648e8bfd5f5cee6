using Aurous.Jobs;
using Hangfire.Common;
using Hangfire.States;
using Hangfire.Storage;

namespace Aurous.InferenceWorker.Jobs;

/// <summary>
/// When a generation job has failed its last attempt (Hangfire moves it to Failed only once no retry is left), the job
/// ends <c>failed</c> with its hold released and its event published, so no job is left open with credits held.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class RetriesExhaustedFilter(IServiceProvider services) : JobFilterAttribute, IApplyStateFilter
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    public void OnStateApplied(ApplyStateContext context, IWriteOnlyTransaction transaction)
    {
        if (context.NewState is not FailedState failed
            || context.BackgroundJob.Job?.Type != typeof(IGenerationJobs)
            || context.BackgroundJob.Job.Args is not [string jobId, ..])
        {
            return;
        }
        var log = services.GetRequiredService<ILogger<RetriesExhaustedFilter>>();
        try
        {
            using var bound = new CancellationTokenSource(Bound);
            EndAsync(jobId, failed.Exception?.GetType().Name, bound.Token).GetAwaiter().GetResult();
        }
        catch (Exception ex)
        {
            // Still open: the queue deadline's upkeep ends it later.
            log.LogError(ex, "Job {JobId} failed its last attempt and could not be ended", jobId);
        }
    }

    public void OnStateUnapplied(ApplyStateContext context, IWriteOnlyTransaction transaction)
    {
    }

    private async Task EndAsync(string jobId, string? fault, CancellationToken ct)
    {
        var store = services.GetRequiredService<JobStore>();
        var ended = await store.EndWithoutChargeAsync(jobId, JobStatus.Failed, "generation_failed",
            "The job could not be completed after repeated attempts.", ct);
        services.GetRequiredService<ILogger<RetriesExhaustedFilter>>().LogWarning(
            "Job {JobId} failed its last attempt ({Fault}); {Outcome}", jobId, fault, ended ? "ended failed, hold released" : "it had already ended");
        if (await store.GetByIdAsync(jobId, ct) is { } job)
        {
            if (ended)
            {
                JobTelemetry.RecordCompleted(job.Kind, JobStatus.Failed);
            }
            await services.GetRequiredService<JobEvents>().PublishAsync(job, ct);
        }
    }
}
