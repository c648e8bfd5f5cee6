using System.Diagnostics;
using System.Runtime.ExceptionServices;
using Aurous.InferenceWorker.Generation;
using Aurous.InferenceWorker.Jobs.Moderation;
using Aurous.Jobs;
using Aurous.Models;

namespace Aurous.InferenceWorker.Jobs;

/// <summary>
/// Runs one image or video job to its terminal status (the Hangfire job behind <see cref="IGenerationJobs"/>):
/// start -> queue deadline -> moderation -> LoRA choice -> generate each output, checking for a cancel at every step ->
/// upload and record each output -> succeed (capturing the hold) -> publish the job's event.
/// <para>
/// A failure of the generator ends the job <c>failed</c> (<c>generation_failed</c>, hold released). A fault of the
/// database or blob storage is thrown, so Hangfire runs the job again (bounded retries, see
/// <see cref="JobRunnerOptions.GenerationAttempts"/>); <see cref="RetriesExhaustedFilter"/> ends it <c>failed</c> after
/// the last attempt. A run again after a crash is safe: outputs already stored are kept (same seed, same bytes, same
/// blob name, same token), and the job's status transitions let only one run settle it, so it has one output set and one
/// charge.
/// </para>
/// </summary>
public sealed class GenerationJobRunner(
    JobStore store,
    OutputBlobs blobs,
    IMediaGenerator generator,
    ILoraDispatcher dispatcher,
    ModerationPolicy moderation,
    JobEvents events,
    TimeProvider clock,
    IHostApplicationLifetime lifetime,
    ILogger<GenerationJobRunner> log) : IGenerationJobs
{
    public static readonly TimeSpan ImageOutputLifetime = TimeSpan.FromDays(7);
    public static readonly TimeSpan VideoOutputLifetime = TimeSpan.FromHours(24);

    public async Task RunAsync(string jobId, CancellationToken cancellationToken)
    {
        var job = await store.StartAsync(jobId, cancellationToken);
        if (job is null)
        {
            // It ended before this run (cancelled while pending, expired by upkeep, or settled by an earlier run that
            // crashed before publishing): its event may still be owed.
            if (await store.GetByIdAsync(jobId, cancellationToken) is { } ended)
            {
                await events.PublishAsync(ended, cancellationToken);
            }
            return;
        }

        using var span = JobTelemetry.StartRun(job);
        JobTelemetry.Running.Add(1);
        try
        {
            var status = await RunStartedAsync(job, cancellationToken);
            span?.SetTag("aurous.job.status", status);
            if (status is not null)
            {
                JobTelemetry.RecordCompleted(job.Kind, status);
            }
            if (await store.GetByIdAsync(jobId, cancellationToken) is { } settled)
            {
                await events.PublishAsync(settled, cancellationToken);
            }
        }
        catch (Exception ex)
        {
            span?.SetStatus(ActivityStatusCode.Error, ex.Message);
            throw;
        }
        finally
        {
            JobTelemetry.Running.Add(-1);
        }
    }

    /// <returns>The status this run ended the job in; null when it had already ended meanwhile.</returns>
    private async Task<string?> RunStartedAsync(JobRow job, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var firstRun = job.Attempts <= 1;
        if (firstRun)
        {
            JobTelemetry.QueueWait.Record(Math.Max(0, (now - job.CreatedAt).TotalSeconds),
                new KeyValuePair<string, object?>("kind", JobTelemetry.Kind(job.Kind)), new KeyValuePair<string, object?>("model", job.Model));
        }
        // The deadline bounds the wait for a first start; a run again after a crash finishes what was started in time.
        if (firstRun && now > job.QueueDeadline)
        {
            return await EndAsync(job, JobStatus.Expired, "job_expired", "The job was not started before its queue deadline; nothing was charged.", ct);
        }

        using (var moderationSpan = JobTelemetry.StartStep("moderation"))
        {
            if (moderation.Evaluate(job.Spec.Prompt) is { } verdict)
            {
                moderationSpan?.SetTag("aurous.moderation.code", verdict.Code);
                return await EndAsync(job, JobStatus.ModerationRejected, verdict.Code, verdict.Message, ct);
            }
        }

        var loraId = job.LoraId;
        if (loraId is null)
        {
            using var _ = JobTelemetry.StartStep("lora dispatch");
            loraId = await dispatcher.PickAsync(job.Model, job.Spec.Prompt, ct);
            if (loraId is not null)
            {
                await store.SetLoraAsync(job.Id, loraId, JobStore.LoraFromDispatcher, ct);
            }
        }

        var expiresAt = now + (job.Kind == JobKind.Image ? ImageOutputLifetime : VideoOutputLifetime);
        var outcome = await GenerateAsync(job, loraId, expiresAt, ct);
        switch (outcome)
        {
            case RunOutcome.Cancelled:
                return await EndAsync(job, JobStatus.Cancelled, null, null, ct);
            case RunOutcome.Aborted:
                return await EndAsync(job, JobStatus.Cancelled, null, "The job was stopped by an operator.", ct);
            case RunOutcome.GeneratorFailed failed:
                log.LogWarning(failed.Error, "Job {JobId}: the generator failed", job.Id);
                return await EndAsync(job, JobStatus.Failed, "generation_failed", "The generator could not produce this output.", ct);
        }

        // A cancel that arrived after the last step still wins over success: the client was told it would stop.
        if (await store.IsCancelRequestedAsync(job.Id, ct))
        {
            return await EndAsync(job, JobStatus.Cancelled, null, null, ct);
        }
        if (!await store.SucceedAsync(job.Id, expiresAt, ct))
        {
            return null; // a cancel won meanwhile; its own status stands
        }
        return JobStatus.Succeeded;
    }

    private async Task<string?> EndAsync(JobRow job, string status, string? code, string? message, CancellationToken ct) =>
        await store.EndWithoutChargeAsync(job.Id, status, code, message, ct) ? status : null;

    private abstract record RunOutcome
    {
        public sealed record Done : RunOutcome;
        public sealed record Cancelled : RunOutcome;
        public sealed record Aborted : RunOutcome;
        public sealed record GeneratorFailed(Exception Error) : RunOutcome;
    }

    /// <summary>Thrown from the step callback to stop the generator; what stopped it is recorded beside.</summary>
    private sealed class StopGeneration() : OperationCanceledException("The job stopped.");

    private async Task<RunOutcome> GenerateAsync(JobRow job, string? loraId, DateTimeOffset expiresAt, CancellationToken ct)
    {
        var spec = job.Spec;
        var count = job.Kind == JobKind.Image ? spec.N : 1;
        var stored = job.Outputs.Where(o => o.DeletedAt is null).Select(o => o.Index).ToHashSet();
        var cancelRequested = false;
        ExceptionDispatchInfo? fault = null;

        async ValueTask OnStep(int step, int totalSteps, CancellationToken token)
        {
            bool requested;
            try
            {
                requested = await store.IsCancelRequestedAsync(job.Id, token);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                fault = ExceptionDispatchInfo.Capture(ex);
                throw new StopGeneration();
            }
            if (requested)
            {
                cancelRequested = true;
                throw new StopGeneration();
            }
        }

        var started = Stopwatch.GetTimestamp();
        for (var index = 0; index < count; index++)
        {
            if (stored.Contains(index))
            {
                continue; // stored by an earlier run: the same seed made the same bytes
            }
            GeneratedMedia media;
            using (var generateSpan = JobTelemetry.StartStep("generate"))
            {
                generateSpan?.SetTag("aurous.job.output_index", index);
                try
                {
                    media = job.Kind == JobKind.Image
                        ? await generator.GenerateImageAsync(
                            new ImageGenerationRequest(job.Model, spec.Prompt, spec.NegativePrompt, spec.Width, spec.Height, spec.Seed + index, loraId), OnStep, ct)
                        : await generator.GenerateVideoAsync(
                            new VideoGenerationRequest(job.Model, spec.Prompt, spec.NegativePrompt, spec.Width, spec.Height, spec.Seed, loraId,
                                GenerationSizes.VideoFrames(spec.DurationSeconds ?? GenerationSizes.DefaultVideoSeconds), GenerationSizes.VideoFramesPerSecond),
                            OnStep, ct);
                }
                catch (Exception ex)
                {
                    fault?.Throw();
                    if (cancelRequested)
                    {
                        return new RunOutcome.Cancelled();
                    }
                    if (ex is OperationCanceledException && ct.IsCancellationRequested)
                    {
                        if (lifetime.ApplicationStopping.IsCancellationRequested)
                        {
                            throw; // the worker is stopping: the job goes back to its queue and runs again
                        }
                        return new RunOutcome.Aborted(); // deleted or re-queued by an operator in the Hangfire dashboard
                    }
                    generateSpan?.SetStatus(ActivityStatusCode.Error, ex.Message);
                    return new RunOutcome.GeneratorFailed(ex);
                }
            }

            using (JobTelemetry.StartStep("store output"))
            {
                var blobName = OutputBlobs.BlobName(job.Id, index, media.ContentType);
                await blobs.UploadAsync(blobName, media.Bytes, media.ContentType, ct);
                await store.SaveOutputAsync(job.Id, index, blobName, media.ContentType, media.Bytes.LongLength, media.Width, media.Height, expiresAt, ct);
            }
            var kind = new KeyValuePair<string, object?>("model", job.Model);
            (job.Kind == JobKind.Image ? JobTelemetry.Images : JobTelemetry.Videos).Add(1, kind);
        }
        JobTelemetry.GenerationTime.Record(Stopwatch.GetElapsedTime(started).TotalSeconds,
            new KeyValuePair<string, object?>("kind", JobTelemetry.Kind(job.Kind)), new KeyValuePair<string, object?>("model", job.Model));
        return new RunOutcome.Done();
    }
}
