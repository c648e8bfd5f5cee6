using System.Security.Cryptography;
using System.Text.Json;
using Aurous.Accounts;
using Dapper;
using Npgsql;

namespace Aurous.Jobs;

/// <summary>
/// The job rows in Postgres, for the API (create, read, list, cancel) and the runner (start, outputs, settle).
/// Every status change is conditional on the current status, so two writers (a cancel and the runner, a retried run)
/// cannot both win; a job's hold is captured or released in the transition that ends it. Transitions lock the job row
/// first and the hold and balance after it, always in that order. Times come from the service's clock, never from
/// the database's <c>now()</c>, so that expiry can be tested by moving the clock.
/// </summary>
public sealed class JobStore(NpgsqlDataSource db, CreditHolds holds, TimeProvider clock)
{
    public const string LoraFromRequest = "request";
    public const string LoraFromDispatcher = "dispatcher";

    /// <summary>The spec as stored in <c>generation_jobs.spec</c> (snake_case, like the API's bodies).</summary>
    public static readonly JsonSerializerOptions SpecJson = new(JsonSerializerDefaults.Web) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>A new job id: <c>img_</c> or <c>vid_</c> and a ULID of the service's clock, so ids sort by creation.</summary>
    public static string NewId(JobKind kind, DateTimeOffset now) => (kind == JobKind.Image ? "img_" : "vid_") + Persistence.Ulid.Create(now);

    /// <summary>The kind an id names, or null for an id of neither kind.</summary>
    public static JobKind? KindOf(string id) =>
        id.StartsWith("img_", StringComparison.Ordinal) ? JobKind.Image : id.StartsWith("vid_", StringComparison.Ordinal) ? JobKind.Video : null;

    // ---- API side -------------------------------------------------------------------------------------------

    /// <summary>
    /// Inserts the job and attaches its hold (<c>credit_holds.job_id</c>) in one transaction; when
    /// <paramref name="idempotentResponse"/> is given, the create's idempotency record is completed with it in the same
    /// transaction (the request ends without a charge: the job captures later). Throws
    /// <see cref="JobNotCreatedException"/>, with nothing stored, when the hold is no longer open or the request no
    /// longer owns its Idempotency-Key.
    /// </summary>
    public async Task<JobRow> CreateAsync(NewJob job, IdempotentResponse? idempotentResponse, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition("""
            INSERT INTO generation_jobs (id, team_id, api_key_id, request_id, kind, model, spec, lora_id, lora_source, status, hold_id,
                                         estimate, tokens, rates, breakdown, trace_parent, created_at, queue_deadline)
            VALUES (@Id, @TeamId, @ApiKeyId, @RequestId, @kind, @model, @spec::jsonb, @LoraId, @loraSource, 'pending', @HoldId,
                    @Estimate, @TokensJson::jsonb, @RatesJson::jsonb, @BreakdownJson::jsonb, @TraceParent, @CreatedAt, @QueueDeadline)
            """,
            new
            {
                job.Id, job.TeamId, job.ApiKeyId, job.RequestId, kind = KindName(job.Kind), model = job.Spec.Model,
                spec = JsonSerializer.Serialize(job.Spec, SpecJson), job.LoraId, loraSource = job.LoraId is null ? null : LoraFromRequest,
                job.HoldId, job.Estimate, job.TokensJson, job.RatesJson, job.BreakdownJson, job.TraceParent, job.CreatedAt, job.QueueDeadline,
            }, tx, cancellationToken: ct));
        if (!await CreditHolds.AttachToJobAsync(job.HoldId, job.Id, tx, ct))
        {
            throw new JobNotCreatedException($"Hold {job.HoldId} of {job.RequestId} is no longer open; job {job.Id} was not created.", idempotencyKeyLost: false);
        }
        if (idempotentResponse is not null && !await idempotentResponse.CompleteAsync(job.TeamId, job.RequestId, tx, ct))
        {
            throw new JobNotCreatedException($"Request {job.RequestId} no longer owns its Idempotency-Key; job {job.Id} was not created.", idempotencyKeyLost: true);
        }
        await tx.CommitAsync(ct);
        return job.ToPendingRow();
    }

    /// <summary>The team's job, or null (another team's job is not found either).</summary>
    public async Task<JobRow?> GetAsync(string teamId, string id, CancellationToken ct)
    {
        var job = await GetByIdAsync(id, ct);
        return job?.TeamId == teamId ? job : null;
    }

    /// <summary>The team's jobs of <paramref name="kind"/>, newest first, after the cursor id <paramref name="after"/>.</summary>
    public async Task<(IReadOnlyList<JobRow> Jobs, bool HasMore)> ListAsync(string teamId, JobKind kind, int limit, string? after, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        await using var conn = await db.OpenConnectionAsync(ct);
        // Ids are ULIDs: ordering by id is ordering by creation, and the cursor needs no lookup of its own.
        var jobs = await JobRows.ReadJobsAsync(conn, null, $"""
            SELECT {JobRows.JobColumns} FROM generation_jobs j
            WHERE j.team_id = @teamId AND j.kind = @kind AND (@after::text IS NULL OR j.id < @after)
            ORDER BY j.id DESC LIMIT @take
            """, new { teamId, kind = KindName(kind), after, take = limit + 1 }, ct);
        var hasMore = jobs.Count > limit;
        return (hasMore ? jobs.Take(limit).ToList() : jobs, hasMore);
    }

    /// <summary>Pending: cancelled now and its hold released, in one transaction. Processing: flagged for the runner.</summary>
    public async Task<CancelOutcome> CancelAsync(string teamId, string id, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var row = await LockAsync(conn, tx, id, ct);
        if (row is not { } current || current.TeamId != teamId)
        {
            return CancelOutcome.NotFound;
        }
        CancelOutcome outcome;
        if (JobStatus.IsTerminal(current.Status))
        {
            outcome = CancelOutcome.AlreadyTerminal;
        }
        else if (current.Status == JobStatus.Pending)
        {
            await EndAsync(conn, tx, id, current.HoldId, JobStatus.Cancelled, null, null, ct);
            outcome = CancelOutcome.Cancelled;
        }
        else
        {
            await conn.ExecuteAsync(new CommandDefinition(
                "UPDATE generation_jobs SET cancel_requested = true WHERE id = @id", new { id }, tx, cancellationToken: ct));
            outcome = CancelOutcome.Requested;
        }
        await tx.CommitAsync(ct);
        return outcome;
    }

    /// <summary>The output behind a public token, or null.</summary>
    public async Task<(JobOutput Output, JobRow Job)?> FindOutputAsync(string token, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var jobId = await conn.ExecuteScalarAsync<string?>(new CommandDefinition(
            "SELECT job_id FROM generation_outputs WHERE token = @token", new { token }, cancellationToken: ct));
        if (jobId is null)
        {
            return null;
        }
        var job = (await JobRows.ReadJobAsync(conn, null, jobId, ct))!;
        return (job.Outputs.Single(o => o.Token == token), job);
    }

    // ---- Runner side ----------------------------------------------------------------------------------------

    /// <summary>Any team's job (the runner's view).</summary>
    public async Task<JobRow?> GetByIdAsync(string id, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await JobRows.ReadJobAsync(conn, null, id, ct);
    }

    /// <summary>pending (or processing, on a retried run) -> processing, attempts + 1; null when the job already ended.</summary>
    public async Task<JobRow?> StartAsync(string id, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var started = await conn.ExecuteAsync(new CommandDefinition("""
            UPDATE generation_jobs SET status = 'processing', started_at = COALESCE(started_at, @now), attempts = attempts + 1
            WHERE id = @id AND status IN ('pending', 'processing')
            """, new { id, now = clock.GetUtcNow() }, cancellationToken: ct));
        return started == 1 ? await JobRows.ReadJobAsync(conn, null, id, ct) : null;
    }

    public async Task<bool> IsCancelRequestedAsync(string id, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT COALESCE((SELECT cancel_requested FROM generation_jobs WHERE id = @id), false)", new { id }, cancellationToken: ct));
    }

    /// <summary>Records the LoRA the dispatcher chose (<c>lora_source = 'dispatcher'</c>).</summary>
    public async Task SetLoraAsync(string id, string loraId, string source, CancellationToken ct)
    {
        if (source is not (LoraFromRequest or LoraFromDispatcher))
        {
            throw new ArgumentOutOfRangeException(nameof(source), source, $"A LoRA comes from '{LoraFromRequest}' or '{LoraFromDispatcher}'.");
        }
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(
            "UPDATE generation_jobs SET lora_id = @loraId, lora_source = @source WHERE id = @id", new { id, loraId, source }, cancellationToken: ct));
    }

    /// <summary>Upserts one output by (job, index), keeping the first token: a retried run has the same URLs.</summary>
    public async Task<JobOutput> SaveOutputAsync(string jobId, int index, string blobName, string contentType, long bytes, int? width, int? height, DateTimeOffset expiresAt, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        await using var conn = await db.OpenConnectionAsync(ct);
        var outputs = await JobRows.ReadOutputsAsync(conn, null, $"""
            INSERT INTO generation_outputs AS o (token, job_id, index, blob_name, content_type, bytes, width, height, created_at, expires_at)
            VALUES (@token, @jobId, @index, @blobName, @contentType, @bytes, @width, @height, @now, @expiresAt)
            ON CONFLICT (job_id, index) DO UPDATE
            SET blob_name = EXCLUDED.blob_name, content_type = EXCLUDED.content_type, bytes = EXCLUDED.bytes,
                width = EXCLUDED.width, height = EXCLUDED.height, expires_at = EXCLUDED.expires_at, deleted_at = NULL
            RETURNING {JobRows.OutputColumns}
            """, new { token = NewToken(), jobId, index, blobName, contentType, bytes, width, height, now = clock.GetUtcNow(), expiresAt }, ct);
        return outputs.Single().Output;
    }

    /// <summary>
    /// processing -> succeeded: captures the job's hold for the stored estimate, tokens, rates and breakdown (the
    /// receipt is booked under the create request, endpoint "images" or "videos") and records the charge; a retried call
    /// charges nothing more (and is true again). False when the job was not processing (it ended meanwhile: a cancel won).
    /// </summary>
    public async Task<bool> SucceedAsync(string id, DateTimeOffset outputsExpireAt, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        if (await LockAsync(conn, tx, id, ct) is not { } locked)
        {
            return false;
        }
        if (locked.Status != JobStatus.Processing)
        {
            return locked.Status == JobStatus.Succeeded;
        }
        var job = (await JobRows.ReadJobAsync(conn, tx, id, ct))!;
        var capture = new Capture(
            job.HoldId, job.TeamId, job.RequestId, job.ApiKeyId, EndpointOf(job.Kind), job.Model, job.Estimate,
            job.TokensJson, job.RatesJson, job.BreakdownJson, EndUser: null);
        // Null only if the hold was settled behind the job's back; the outputs are made, so the job still succeeds, uncharged.
        var receiptId = await holds.CaptureWithinAsync(capture, tx, ct);
        await conn.ExecuteAsync(new CommandDefinition("""
            UPDATE generation_jobs
            SET status = 'succeeded', completed_at = @now, expires_at = @outputsExpireAt, credits_charged = @charged, receipt_id = @receiptId,
                error_code = NULL, error_message = NULL
            WHERE id = @id
            """, new { id, now = clock.GetUtcNow(), outputsExpireAt, charged = receiptId is null ? 0m : job.Estimate, receiptId }, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
        return true;
    }

    /// <summary>
    /// Any open status -> <paramref name="terminalStatus"/> (failed, cancelled, expired, moderation_rejected) with the
    /// hold released in the same transaction. False when the job had already ended.
    /// </summary>
    public async Task<bool> EndWithoutChargeAsync(string id, string terminalStatus, string? errorCode, string? errorMessage, CancellationToken ct)
    {
        if (terminalStatus == JobStatus.Succeeded || !JobStatus.IsTerminal(terminalStatus))
        {
            throw new ArgumentOutOfRangeException(nameof(terminalStatus), terminalStatus, "A job ends without a charge as failed, cancelled, expired or moderation_rejected.");
        }
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        if (await LockAsync(conn, tx, id, ct) is not { } job || JobStatus.IsTerminal(job.Status))
        {
            return false;
        }
        await EndAsync(conn, tx, id, job.HoldId, terminalStatus, errorCode, errorMessage, ct);
        await tx.CommitAsync(ct);
        return true;
    }

    // ---- Maintenance ----------------------------------------------------------------------------------------

    /// <summary>
    /// Jobs still pending past their queue deadline (never started: no runner picked them up in time, or the API
    /// stopped before enqueueing them) end 'expired' with their hold released; returns their ids. A job that started
    /// is the runner's to end.
    /// </summary>
    public async Task<IReadOnlyList<string>> ExpireOverdueAsync(CancellationToken ct)
    {
        const int Batch = 500;
        var now = clock.GetUtcNow();
        List<string> overdue;
        await using (var conn = await db.OpenConnectionAsync(ct))
        {
            overdue = (await conn.QueryAsync<string>(new CommandDefinition(
                "SELECT id FROM generation_jobs WHERE status = 'pending' AND queue_deadline < @now ORDER BY queue_deadline LIMIT @Batch",
                new { now, Batch }, cancellationToken: ct))).ToList();
        }
        var expired = new List<string>(overdue.Count);
        foreach (var id in overdue)
        {
            if (await EndWithoutChargeAsync(id, JobStatus.Expired, "job_expired", "The job was not started before its queue deadline; nothing was charged.", ct))
            {
                expired.Add(id);
            }
        }
        return expired;
    }

    /// <summary>Outputs past their expiry whose blobs are not yet deleted (at most <paramref name="limit"/>).</summary>
    public async Task<IReadOnlyList<JobOutput>> ExpiredOutputsAsync(int limit, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var outputs = await JobRows.ReadOutputsAsync(conn, null, $"""
            SELECT {JobRows.OutputColumns} FROM generation_outputs o
            WHERE o.deleted_at IS NULL AND o.expires_at < @now ORDER BY o.expires_at LIMIT @limit
            """, new { now = clock.GetUtcNow(), limit }, ct);
        return outputs.Select(o => o.Output).ToList();
    }

    public async Task MarkOutputDeletedAsync(string token, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(
            "UPDATE generation_outputs SET deleted_at = @now WHERE token = @token AND deleted_at IS NULL",
            new { token, now = clock.GetUtcNow() }, cancellationToken: ct));
    }

    // ---- Helpers --------------------------------------------------------------------------------------------

    /// <summary>The billed endpoint of a job's receipt.</summary>
    public static string EndpointOf(JobKind kind) => kind == JobKind.Image ? "images" : "videos";

    private static string KindName(JobKind kind) => kind == JobKind.Image ? "image" : "video";

    /// <summary>256 random bits, base64url: the unguessable part of an output's public URL.</summary>
    private static string NewToken() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>The job's team, status and hold, with its row locked until the transaction ends; null when there is no such job.</summary>
    private static async Task<(string TeamId, string Status, string HoldId)?> LockAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string id, CancellationToken ct) =>
        await conn.QuerySingleOrDefaultAsync<(string, string, string)?>(new CommandDefinition(
            "SELECT team_id, status, hold_id FROM generation_jobs WHERE id = @id FOR UPDATE", new { id }, tx, cancellationToken: ct));

    private async Task EndAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string id, string holdId, string status, string? errorCode, string? errorMessage, CancellationToken ct)
    {
        await CreditHolds.ReleaseWithinAsync(holdId, tx, ct);
        await conn.ExecuteAsync(new CommandDefinition("""
            UPDATE generation_jobs SET status = @status, error_code = @errorCode, error_message = @errorMessage, completed_at = @now, credits_charged = 0
            WHERE id = @id
            """, new { id, status, errorCode, errorMessage, now = clock.GetUtcNow() }, tx, cancellationToken: ct));
    }
}
