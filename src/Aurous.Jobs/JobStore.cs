using Aurous.Accounts;
using Npgsql;

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
    string HoldId, decimal Estimate, string TokensJson, string RatesJson, string BreakdownJson, string? TraceParent, DateTimeOffset CreatedAt, DateTimeOffset QueueDeadline);

/// <summary>How a cancel ended: not found (404), already terminal (409), cancelled now, or asked of the running job.</summary>
public enum CancelOutcome { NotFound, AlreadyTerminal, Cancelled, Requested }

/// <summary>
/// The job rows in Postgres, for the API (create, read, list, cancel) and the runner (start, outputs, settle).
/// Every status change is conditional on the current status, so two writers (a cancel and the runner, a retried run)
/// cannot both win; a job's hold is captured or released in the transition that ends it.
/// </summary>
public sealed class JobStore(NpgsqlDataSource db, CreditHolds holds, TimeProvider clock)
{
    // Placeholders until the implementation lands; they keep the contract compiling.
    private NpgsqlDataSource Db => db;
    private CreditHolds Holds => holds;
    private TimeProvider Clock => clock;

    // ---- API side -------------------------------------------------------------------------------------------

    /// <summary>
    /// Inserts the job and attaches its hold (<c>credit_holds.job_id</c>) in one transaction; when
    /// <paramref name="idempotentResponse"/> is given, the create's idempotency record is completed with it in the same
    /// transaction (the request ends without a charge: the job captures later).
    /// </summary>
    public Task<JobRow> CreateAsync(NewJob job, IdempotentResponse? idempotentResponse, CancellationToken ct) => throw new NotImplementedException();

    /// <summary>The team's job, or null (another team's job is not found either).</summary>
    public Task<JobRow?> GetAsync(string teamId, string id, CancellationToken ct) => throw new NotImplementedException();

    /// <summary>The team's jobs of <paramref name="kind"/>, newest first, after the cursor id <paramref name="after"/>.</summary>
    public Task<(IReadOnlyList<JobRow> Jobs, bool HasMore)> ListAsync(string teamId, JobKind kind, int limit, string? after, CancellationToken ct) => throw new NotImplementedException();

    /// <summary>Pending: cancelled now and its hold released, in one transaction. Processing: flagged for the runner.</summary>
    public Task<CancelOutcome> CancelAsync(string teamId, string id, CancellationToken ct) => throw new NotImplementedException();

    /// <summary>The output behind a public token, or null.</summary>
    public Task<(JobOutput Output, JobRow Job)?> FindOutputAsync(string token, CancellationToken ct) => throw new NotImplementedException();

    // ---- Runner side ----------------------------------------------------------------------------------------

    /// <summary>Any team's job (the runner's view).</summary>
    public Task<JobRow?> GetByIdAsync(string id, CancellationToken ct) => throw new NotImplementedException();

    /// <summary>pending (or processing, on a retried run) -> processing, attempts + 1; null when the job already ended.</summary>
    public Task<JobRow?> StartAsync(string id, CancellationToken ct) => throw new NotImplementedException();

    public Task<bool> IsCancelRequestedAsync(string id, CancellationToken ct) => throw new NotImplementedException();

    /// <summary>Records the LoRA the dispatcher chose (<c>lora_source = 'dispatcher'</c>).</summary>
    public Task SetLoraAsync(string id, string loraId, string source, CancellationToken ct) => throw new NotImplementedException();

    /// <summary>Upserts one output by (job, index), keeping the first token: a retried run has the same URLs.</summary>
    public Task<JobOutput> SaveOutputAsync(string jobId, int index, string blobName, string contentType, long bytes, int? width, int? height, DateTimeOffset expiresAt, CancellationToken ct) => throw new NotImplementedException();

    /// <summary>
    /// processing -> succeeded: captures the job's hold for the stored estimate, tokens, rates and breakdown (the
    /// receipt is booked under the create request, endpoint "images" or "videos") and records the charge; a retried call
    /// charges nothing more. False when the job was not processing (it ended meanwhile: a cancel won).
    /// </summary>
    public Task<bool> SucceedAsync(string id, DateTimeOffset outputsExpireAt, CancellationToken ct) => throw new NotImplementedException();

    /// <summary>
    /// Any open status -> <paramref name="terminalStatus"/> (failed, cancelled, expired, moderation_rejected) with the
    /// hold released in the same transaction. False when the job had already ended.
    /// </summary>
    public Task<bool> EndWithoutChargeAsync(string id, string terminalStatus, string? errorCode, string? errorMessage, CancellationToken ct) => throw new NotImplementedException();

    // ---- Maintenance ----------------------------------------------------------------------------------------

    /// <summary>Open jobs past their queue deadline: ended 'expired' (hold released); returns their ids.</summary>
    public Task<IReadOnlyList<string>> ExpireOverdueAsync(CancellationToken ct) => throw new NotImplementedException();

    /// <summary>Outputs past their expiry whose blobs are not yet deleted (at most <paramref name="limit"/>).</summary>
    public Task<IReadOnlyList<JobOutput>> ExpiredOutputsAsync(int limit, CancellationToken ct) => throw new NotImplementedException();

    public Task MarkOutputDeletedAsync(string token, CancellationToken ct) => throw new NotImplementedException();
}
