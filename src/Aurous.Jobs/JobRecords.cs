namespace Aurous.Jobs;

/// <summary>One output file of a job.</summary>
public sealed record JobOutput(
    int Index, string Token, string BlobName, string ContentType, long Bytes, int? Width, int? Height,
    DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt, DateTimeOffset? DeletedAt);

/// <summary>A row of <c>generation_jobs</c> with its outputs.</summary>
public sealed record JobRow(
    string Id, string TeamId, string ApiKeyId, string RequestId, JobKind Kind, string Model, GenerationSpec Spec,
    string? LoraId, string? LoraSource, string Status, string HoldId, decimal Estimate, string TokensJson,
    string RatesJson, string BreakdownJson, decimal? CreditsCharged, string? ReceiptId, string? ErrorCode, string? ErrorMessage, bool CancelRequested, int Attempts,
    string? TraceParent, DateTimeOffset CreatedAt, DateTimeOffset? StartedAt, DateTimeOffset? CompletedAt,
    DateTimeOffset? ExpiresAt, DateTimeOffset QueueDeadline, IReadOnlyList<JobOutput> Outputs);

/// <summary>What the API stores when it accepts a job (the hold is already placed by the metering pipeline).</summary>
public sealed record NewJob(
    string Id, string TeamId, string ApiKeyId, string RequestId, JobKind Kind, GenerationSpec Spec, string? LoraId,
    string HoldId, decimal Estimate, string TokensJson, string RatesJson, string BreakdownJson, string? TraceParent, DateTimeOffset CreatedAt, DateTimeOffset QueueDeadline)
{
    /// <summary>The row as <see cref="JobStore.CreateAsync"/> inserts it: pending, nothing charged, no outputs.</summary>
    public JobRow ToPendingRow() => new(
        Id, TeamId, ApiKeyId, RequestId, Kind, Spec.Model, Spec, LoraId, LoraId is null ? null : JobStore.LoraFromRequest, JobStatus.Pending,
        HoldId, Estimate, TokensJson, RatesJson, BreakdownJson, null, null, null, null, false, 0, TraceParent, CreatedAt, null, null, null,
        QueueDeadline, []);
}

/// <summary>How a cancel ended: not found (404), already terminal (409), cancelled now, or asked of the running job.</summary>
public enum CancelOutcome { NotFound, AlreadyTerminal, Cancelled, Requested }

/// <summary>Why <see cref="JobStore.CreateAsync"/> stored nothing: the hold or the Idempotency-Key was no longer the request's.</summary>
public sealed class JobNotCreatedException(string message, bool idempotencyKeyLost) : Exception(message)
{
    /// <summary>True when a retry with the same Idempotency-Key took the key over (it will answer); false when the hold was lost.</summary>
    public bool IdempotencyKeyLost { get; } = idempotencyKeyLost;
}
