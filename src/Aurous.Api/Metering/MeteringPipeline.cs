using Aurous.Accounts;
using Microsoft.Extensions.Options;

namespace Aurous.Api.Metering;

/// <summary>
/// The one metering pipeline every paid endpoint shares, after authentication and the RPM check:
/// idempotency claim (or replay) -> TPM bucket -> credit hold (a request's own, or placed against this instance's lease
/// of a busy team's credits) -> [the endpoint's work] -> capture of the exact cost with its receipt and the stored
/// response, in one transaction. Any failure or cancellation releases the hold and the key.
/// </summary>
public sealed class MeteringPipeline(
    RateLimiter limiter, IdempotencyStore idempotency, CreditHolds holds, IOptions<RateLimitOptions> limits, IOptions<MeteringOptions> metering,
    ILogger<MeteringPipeline> log, CreditCommitQueue ledger, CreditLeases leases)
{
    public const string IdempotencyKeyHeader = "Idempotency-Key";
    public const string ReplayedHeader = "Aurous-Idempotent-Replayed";

    /// <summary>Admits the request, or returns the response that ends it here (a replay, a 409, a 429 or a 402).</summary>
    public async Task<(MeteredRequest? Admitted, IResult? Ended)> AdmitAsync(HttpContext context, AdmissionRequest request)
    {
        var rc = RequestContext.Of(context);
        var key = rc.ApiKey ?? throw new InvalidOperationException("Metering needs an authenticated request.");
        var ct = context.RequestAborted;

        string? idempotencyKey = null;
        if (request.Body is { } body && context.Request.Headers.TryGetValue(IdempotencyKeyHeader, out var header))
        {
            idempotencyKey = header.ToString();
            if (idempotencyKey.Length is 0 or > IdempotencyStore.MaxKeyLength || idempotencyKey.Any(char.IsControl))
            {
                return (null, ApiError.InvalidRequest("invalid_idempotency_key",
                    $"Idempotency-Key must be 1 to {IdempotencyStore.MaxKeyLength} printable characters.").ToResult(context));
            }
            // The billed endpoint, not the raw path: routing ignores case and trailing slashes, so must the fingerprint.
            var fingerprint = IdempotencyStore.Fingerprint(request.Endpoint, body);
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            // Not cancellable: a claim committed while the client left must still be seen (and given back) by us.
            var claim = await idempotency.ClaimAsync(key.TeamId, idempotencyKey, fingerprint, rc.RequestId, CancellationToken.None);
            rc.Time("idempotency", started);
            switch (claim.Outcome)
            {
                case IdempotencyStore.Outcome.Replay:
                    context.Response.Headers[ReplayedHeader] = "true";
                    return (null, new RawJsonResult(claim.Body!, claim.ContentType, claim.StatusCode));
                case IdempotencyStore.Outcome.DifferentBody:
                    return (null, new ApiError(409, "idempotency_error", "idempotency_key_in_use",
                        "This Idempotency-Key was already used with a different request body. Use a new key for a new request.").ToResult(context));
                case IdempotencyStore.Outcome.InProgress:
                    context.Response.Headers.RetryAfter = "1";
                    return (null, new ApiError(409, "idempotency_error", "idempotency_request_in_progress",
                        "A request with this Idempotency-Key is still being processed. Retry shortly to get its result.").ToResult(context));
            }
        }

        var admitted = new MeteredRequest(this, context, request, idempotencyKey);
        IResult? ended;
        try
        {
            ended = await admitted.ReserveAsync(limiter, ledger, leases, RequestRateLimiting.TokensPerMinute(key, limits.Value));
        }
        catch
        {
            await admitted.DisposeAsync();
            throw;
        }
        if (ended is not null)
        {
            await admitted.DisposeAsync();
            return (null, ended);
        }
        return (admitted, null);
    }

    /// <summary>
    /// <see cref="AdmitAsync"/> with the endpoint's first step (<paramref name="start"/>: starting the model) running
    /// alongside the admission checks that follow authentication and the RPM bucket (TPM bucket and credit hold), so
    /// their round trips overlap the model's time to first token instead of adding to it. Nothing <paramref name="start"/>
    /// produces reaches the client unless the request is admitted: when it is not, the work is cancelled and
    /// <paramref name="discard"/>ed. A request with an Idempotency-Key is admitted first, since a replay must not run the model.
    /// </summary>
    public async Task<(MeteredRequest? Admitted, IResult? Ended, T? Started)> AdmitAlongsideAsync<T>(
        HttpContext context, AdmissionRequest request, Func<CancellationToken, Task<T>> start, Func<T, ValueTask> discard)
    {
        if (request.Body is not null && context.Request.Headers.ContainsKey(IdempotencyKeyHeader))
        {
            var (first, endedFirst) = await AdmitAsync(context, request);
            return endedFirst is not null ? (null, endedFirst, default) : (first, null, await StartAdmittedAsync(first!, start(context.RequestAborted)));
        }

        using var speculative = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        var work = start(speculative.Token);
        (MeteredRequest? Admitted, IResult? Ended) admission;
        try
        {
            admission = await AdmitAsync(context, request);
        }
        catch
        {
            await speculative.CancelAsync();
            await DiscardAsync(work, discard);
            throw;
        }
        if (admission.Ended is not null)
        {
            await speculative.CancelAsync();
            await DiscardAsync(work, discard);
            return (null, admission.Ended, default);
        }
        return (admission.Admitted, null, await StartAdmittedAsync(admission.Admitted!, work));
    }

    /// <summary>The started work's result; if starting failed, the admitted request is released before the failure surfaces.</summary>
    private static async Task<T> StartAdmittedAsync<T>(MeteredRequest admitted, Task<T> work)
    {
        try
        {
            return await work;
        }
        catch
        {
            await admitted.DisposeAsync();
            throw;
        }
    }

    private async Task DiscardAsync<T>(Task<T> work, Func<T, ValueTask> discard)
    {
        try
        {
            await discard(await work);
        }
        catch (Exception ex) when (ex is OperationCanceledException or HttpRequestException)
        {
            // Cancelled as asked, or it failed on its own: either way nothing was delivered.
        }
        catch (Exception ex)
        {
            log.LogWarning(ex, "Work started alongside a refused admission failed while being discarded");
        }
    }

    internal CreditHolds Holds => holds;
    internal CreditCommitQueue Ledger => ledger;
    internal CreditLeases Leases => leases;
    internal IdempotencyStore Idempotency => idempotency;
    internal RateLimiter Limiter => limiter;
    internal ILogger Log => log;
    internal TimeSpan Heartbeat => metering.Value.Heartbeat;
    internal long TokensPerMinute(ApiKeyRecord key) => RequestRateLimiting.TokensPerMinute(key, limits.Value);
    internal RateLimitOptions Limits => limits.Value;
}
