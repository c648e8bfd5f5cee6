using Aurous.Accounts;

namespace Aurous.Api.Metering;

/// <summary>
/// An admitted request holding credits (and possibly an idempotency key). End it with <see cref="CompleteAsync"/>,
/// <see cref="CaptureStreamAsync"/> or <see cref="FailAsync"/>; disposing it without either (an exception, a
/// disconnect) releases everything. While it is open, a heartbeat renews its own hold and its key's lease, so a long
/// request keeps both (a hold placed against a credit lease is kept by the lease's renewals). It settles once: a second capture returns the first one's charge, and nothing is charged once
/// it was released.
/// </summary>
public sealed partial class MeteredRequest : IAsyncDisposable
{
    private readonly MeteringPipeline _pipeline;
    private readonly HttpContext _context;
    private readonly RequestContext _rc;
    private readonly string? _idempotencyKey;
    private string? _holdId;
    private CreditLeases.Reservation? _lease;
    private bool _tokensTaken;
    private bool _settled;
    private Charge? _captured;
    private IResult? _completed;
    private Heartbeat? _heartbeat;

    internal MeteredRequest(MeteringPipeline pipeline, HttpContext context, AdmissionRequest request, string? idempotencyKey)
    {
        _pipeline = pipeline;
        _context = context;
        _rc = RequestContext.Of(context);
        Request = request;
        _idempotencyKey = idempotencyKey;
    }

    public AdmissionRequest Request { get; }

    /// <summary>True once the request was captured or released: nothing more will be charged.</summary>
    public bool IsSettled => _settled;

    internal async Task<IResult?> ReserveAsync(RateLimiter limiter, CreditCommitQueue ledger, CreditLeases leases, long tpmLimit)
    {
        var key = _rc.ApiKey!;
        // The TPM bucket (Redis) and the credit hold (Postgres) are independent: ask both at once. Whichever refuses,
        // DisposeAsync gives back what the other granted.
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        // A request whose RPM unit is still pending takes it here, in the same Redis call as the estimate.
        var rpmLimit = _rc.RequestUnitPending ? RequestRateLimiting.RequestsPerMinute(key, _pipeline.Limits) : (long?)null;
        _rc.RequestUnitPending = false;
        var tpmTask = limiter.AcquireAsync(key.TeamId, rpmLimit, tpmLimit, Request.EstimatedTokens);
        // A busy team's hold is placed against this instance's lease in memory; an idempotent request (its capture stores
        // the response with the charge) and one that becomes a job take a hold of their own.
        _lease = _idempotencyKey is null && !Request.BecomesJob ? leases.TryReserve(key.TeamId, Request.HoldAmount) : null;
        // Not cancellable either (group-committed): a hold committed as the client leaves must be known, so that it is released.
        var holdTask = _lease is not null ? Task.FromResult<string?>(null)
            : ledger.TryPlaceAsync(key.TeamId, _rc.RequestId, Request.Endpoint, Request.Model.Manifest.Id, Request.HoldAmount);
        try
        {
            await Task.WhenAll(tpmTask, holdTask);
        }
        catch
        {
            // Keep whatever succeeded so that it is given back, then let the failure surface.
            _tokensTaken = tpmTask.IsCompletedSuccessfully && tpmTask.Result.Tpm.Allowed;
            _holdId = holdTask.IsCompletedSuccessfully ? holdTask.Result : null;
            throw;
        }
        _rc.Time("tpm+hold", started);
        var (rpm, tpm) = tpmTask.Result;
        _rc.RequestBucket = rpm ?? _rc.RequestBucket;
        _rc.TokenBucket = tpm;
        _tokensTaken = tpm.Allowed;
        _holdId = holdTask.Result;

        // Both buckets report the one verdict; the one that refused is the one without room (a wait to report).
        if (rpm is { Allowed: false, RetryAfterSeconds: not 0 } emptied)
        {
            return RequestRateLimiting.Refusal(_context, emptied).ToResult(_context);
        }
        if (!tpm.Allowed)
        {
            MeteringTelemetry.RecordRejection(Request.Endpoint, "tokens_per_minute");
            if (tpm.RetryAfterSeconds < 0)
            {
                return new ApiError(429, "rate_limit_error", "request_exceeds_tpm_limit",
                    $"This request needs {Request.EstimatedTokens} tokens, more than your team's limit of {tpm.Limit} tokens per minute.").ToResult(_context);
            }
            _context.Response.Headers.RetryAfter = Math.Max(1, tpm.RetryAfterSeconds).ToString();
            return new ApiError(429, "rate_limit_error", "token_rate_limit_exceeded",
                $"Your team is limited to {tpm.Limit} tokens per minute; this request needs {Request.EstimatedTokens}. Retry after {Math.Max(1, tpm.RetryAfterSeconds)} s.").ToResult(_context);
        }
        if (_holdId is null && _lease is null && await leases.GiveBackFreeAsync(key.TeamId))
        {
            // Part of the team's credits sat unreserved in this instance's lease: given back, so ask once more.
            _holdId = await ledger.TryPlaceAsync(key.TeamId, _rc.RequestId, Request.Endpoint, Request.Model.Manifest.Id, Request.HoldAmount);
        }
        if (_holdId is null && _lease is null)
        {
            MeteringTelemetry.RecordRejection(Request.Endpoint, "insufficient_credits");
            return new ApiError(402, "insufficient_credits", "insufficient_credits",
                $"Your team's available credits cannot cover this request (up to {Balance.Credits.Normalize(Request.HoldAmount)} credits). Add credits and retry.").ToResult(_context);
        }
        StartHeartbeat();
        return null;
    }

    /// <summary>
    /// Renews the hold and the key's lease every <see cref="MeteringOptions.Heartbeat"/> until the request settles. A
    /// hold placed against a lease has nothing of its own to renew: <see cref="CreditLeases"/> renews the lease.
    /// </summary>
    private void StartHeartbeat()
    {
        if (_holdId is not null || _idempotencyKey is not null)
        {
            _heartbeat = new Heartbeat(this, _pipeline.Heartbeat);
        }
    }

    private async Task StopHeartbeatAsync()
    {
        if (_heartbeat is { } heartbeat)
        {
            _heartbeat = null;
            await heartbeat.StopAsync();
        }
    }

    /// <summary>
    /// Charges <paramref name="usage"/> (never more than the hold), writes the receipt and, for an idempotent request,
    /// stores <paramref name="render"/>'s response in the same transaction; returns that response.
    /// </summary>
    public async Task<IResult> CompleteAsync(TokenUsage usage, Func<Charge, byte[]> render, string contentType = "application/json")
    {
        if (_settled)
        {
            // Captured once already: the same response. Released: a programming error, never a charge.
            return _completed ?? throw new InvalidOperationException("This request was released; it cannot be charged.");
        }
        await StopHeartbeatAsync();
        var charge = Pricing.WithinHold(Pricing.Price(Request.Model.Manifest, usage), Request.HoldAmount);
        LogIfCapped(usage, charge);
        var body = render(charge);
        var capture = BuildCapture(usage, charge);
        var stored = _idempotencyKey is null ? null : new IdempotentResponse(_idempotencyKey, 200, contentType, body);

        // The work is done: finish the bookkeeping even if the client has gone.
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        // An idempotent capture completes its key in the same statement; any other joins the instance's group commit.
        var receipt = await CaptureAsync(capture, stored);
        _rc.Time("capture", started);
        if (receipt is null)
        {
            if (_idempotencyKey is not null)
            {
                // Another request took over this key (our lease ran out): it will answer; we charge nothing.
                _pipeline.Log.LogWarning("Request {RequestId} lost Idempotency-Key ownership before capture; released its hold.", _rc.RequestId);
                return await FailAsync(KeyTakenOver());
            }
            // The hold is gone (expired by the sweeper): the work is served, but the response must not claim a charge.
            LogUncharged(usage, charge);
            charge = Charge.None;
            body = render(charge);
        }
        else
        {
            MeteringTelemetry.RecordCharge(Request.Endpoint, Request.Model.Manifest.Id, usage, charge);
        }
        _captured = charge;
        _settled = true;
        // The charge is committed: nothing after this point may turn the response into an error.
        try
        {
            await SettleTokensAsync(usage.TotalTokens);
        }
        catch (Exception ex)
        {
            _pipeline.Log.LogWarning(ex, "Could not settle the TPM bucket for {RequestId}", _rc.RequestId);
        }
        return _completed = new RawJsonResult(body, contentType);
    }

    /// <summary>
    /// Charges a streamed response's usage (streams are never idempotent, so nothing is stored). Never throws once the
    /// charge is committed; returns the charge to report to the client in the final chunk: <see cref="Charge.None"/>
    /// when nothing was charged (the hold was lost, or the request was already released). Settles once: a second call
    /// returns the first one's charge and charges nothing more.
    /// </summary>
    public async Task<Charge> CaptureStreamAsync(TokenUsage usage)
    {
        if (_settled)
        {
            // Already captured: the same result. Already released (a failure): never charged afterwards.
            return _captured ?? Charge.None;
        }
        await StopHeartbeatAsync();
        var charge = Pricing.WithinHold(Pricing.Price(Request.Model.Manifest, usage), Request.HoldAmount);
        LogIfCapped(usage, charge);
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var receipt = await CaptureAsync(BuildCapture(usage, charge), null);
        _rc.Time("capture", started);
        if (receipt is null)
        {
            LogUncharged(usage, charge);
            charge = Charge.None;
        }
        else
        {
            MeteringTelemetry.RecordCharge(Request.Endpoint, Request.Model.Manifest.Id, usage, charge);
        }
        _captured = charge;
        _settled = true;
        await BestEffortAsync("settle the TPM bucket", () => SettleTokensAsync(usage.TotalTokens));
        return charge;
    }

    /// <summary>
    /// Captures through the ledger's group commit (with a stored response: alone, in the statement that completes the
    /// key). A hold placed against a lease is settled with it: what was not charged goes back to the lease.
    /// </summary>
    private async Task<string?> CaptureAsync(Capture capture, IdempotentResponse? stored)
    {
        if (_lease is not { } lease)
        {
            return stored is null ? await _pipeline.Ledger.CaptureAsync(capture) : await _pipeline.Holds.CaptureAsync(capture, stored, CancellationToken.None);
        }
        _lease = null;
        string? receipt;
        try
        {
            receipt = await _pipeline.Ledger.CaptureAsync(capture);
        }
        catch
        {
            // Charged or not, unknown: the lease is given out no more, and closed with what Postgres says it holds.
            _pipeline.Leases.Settle(lease, 0, retire: true);
            throw;
        }
        // No receipt: the lease is no longer open (expired while this instance stalled) or could not cover the charge;
        // nothing was charged, and the lease is given out no more.
        _pipeline.Leases.Settle(lease, receipt is null ? 0 : capture.Amount, lost: receipt is null);
        return receipt;
    }

    private void LogIfCapped(TokenUsage usage, Charge charge)
    {
        if (charge.Total == Request.HoldAmount && Pricing.Price(Request.Model.Manifest, usage).Total > Request.HoldAmount)
        {
            _pipeline.Log.LogError("Usage {Usage} of {RequestId} costs more than its hold {Hold}; charging the hold.", usage, _rc.RequestId, Request.HoldAmount);
        }
    }

    private void LogUncharged(TokenUsage usage, Charge price)
    {
        MeteringTelemetry.RecordUncharged(Request.Endpoint);
        _pipeline.Log.LogError("Hold {HoldId} of {RequestId} was no longer open at capture (expired by the sweeper?): usage {Usage} worth {Credits} credits was served uncharged, and the response says 0.",
            _holdId ?? "(placed against a lease)", _rc.RequestId, usage, price.Total);
    }

    private Capture BuildCapture(TokenUsage usage, Charge charge)
    {
        var key = _rc.ApiKey!;
        var manifest = Request.Model.Manifest;
        return new Capture(
            _holdId ?? _lease!.Lease.Id, key.TeamId, _rc.RequestId, key.Id, Request.Endpoint, manifest.Id, charge.Total,
            JsonSerializer.Serialize(new { input = new { text = usage.TextInput, visual = usage.VisualInput, video = usage.VideoInput }, output = new { text = usage.TextOutput } }),
            JsonSerializer.Serialize(new { input = manifest.CreditRates.Input, output = manifest.CreditRates.Output }),
            JsonSerializer.Serialize(new { input = new { text = charge.Text, visual = charge.Visual, video = charge.Video }, output = new { text = charge.Output } }),
            Request.EndUser, FromLease: _holdId is null);
    }

    /// <summary>
    /// Ends the request by handing its hold to a job (image and video generation): the heartbeat stops, and one
    /// transaction stores the job, attaches the hold to it and, with an Idempotency-Key, completes the key with the
    /// 202 response <paramref name="render"/> makes of the pending job. The request itself is charged nothing: the job
    /// captures its hold when it succeeds, or releases it when it ends otherwise. Returns the stored job, or the error
    /// that ended the request instead (its hold and key given back).
    /// </summary>
    public async Task<(Jobs.JobRow? Job, byte[] Body, IResult? Error)> HandOffToJobAsync(
        Jobs.JobStore jobs, Func<string, Jobs.NewJob> describe, Func<Jobs.JobRow, byte[]> render)
    {
        if (_settled || _holdId is null)
        {
            throw new InvalidOperationException("Only an open request with a hold can hand it to a job.");
        }
        await StopHeartbeatAsync();
        var job = describe(_holdId);
        var body = render(job.ToPendingRow());
        var stored = _idempotencyKey is null ? null : new IdempotentResponse(_idempotencyKey, StatusCodes.Status202Accepted, "application/json", body);
        Jobs.JobRow row;
        try
        {
            // The job now exists or not whatever the client does: finish the bookkeeping even if it has gone.
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            row = await jobs.CreateAsync(job, stored, CancellationToken.None);
            _rc.Time("job", started);
        }
        catch (Jobs.JobNotCreatedException ex)
        {
            _pipeline.Log.LogWarning("{Message}", ex.Message);
            return (null, body, await FailAsync(ex.IdempotencyKeyLost
                ? KeyTakenOver()
                : new ApiError(503, "api_error", "hold_lost", "The credit reservation for this request expired before the job was stored. Retry.")));
        }
        _settled = true;
        await BestEffortAsync("settle the TPM bucket", () => SettleTokensAsync(0));
        return (row, body, null);
    }

    /// <summary>Ends the request with <paramref name="error"/>: releases the hold, gives back the key and the tokens.</summary>
    public async Task<IResult> FailAsync(ApiError error)
    {
        await DisposeAsync();
        return error.ToResult(_context);
    }

    /// <summary>
    /// Settles the TPM bucket to the real count in the background (no round trip before the response); the headers
    /// show the bucket as judged at admission with this adjustment applied.
    /// </summary>
    private Task SettleTokensAsync(long actualTokens)
    {
        if (_tokensTaken && actualTokens != Request.EstimatedTokens)
        {
            var key = _rc.ApiKey!;
            var delta = actualTokens - Request.EstimatedTokens;
            _pipeline.Limiter.AdjustTokensLater(key.TeamId, _pipeline.TokensPerMinute(key), delta);
            if (_rc.TokenBucket is { } judged)
            {
                _rc.TokenBucket = judged.Adjusted(delta);
            }
        }
        _tokensTaken = false;
        return Task.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        if (_settled)
        {
            return;
        }
        _settled = true;
        await StopHeartbeatAsync();
        // Each release stands alone: one failing (a Redis blip) must not keep the others from happening.
        if (_lease is { } lease)
        {
            _lease = null;
            _pipeline.Leases.Settle(lease, 0);
        }
        if (_holdId is not null)
        {
            await BestEffortAsync("release the credit hold", () => _pipeline.Ledger.ReleaseAsync(_rc.ApiKey!.TeamId, _holdId));
        }
        if (_idempotencyKey is not null)
        {
            await BestEffortAsync("give back the Idempotency-Key", () => _pipeline.Idempotency.ReleaseAsync(_rc.TeamId, _idempotencyKey, _rc.RequestId));
        }
        await BestEffortAsync("give back TPM tokens", () => SettleTokensAsync(0));
    }

    /// <summary>Another request took over this request's Idempotency-Key (its lease ran out): that one will answer.</summary>
    private static ApiError KeyTakenOver() => new(409, "idempotency_error", "idempotency_request_in_progress",
        "Another request with this Idempotency-Key is being processed. Retry shortly to get its result.");

    private async Task BestEffortAsync(string what, Func<Task> action)
    {
        try
        {
            await action();
        }
        catch (Exception ex)
        {
            // The hold sweeper and the key's lease are the safety nets for what fails here.
            _pipeline.Log.LogError(ex, "Could not {What} for {RequestId}", what, _rc.RequestId);
        }
    }
}
