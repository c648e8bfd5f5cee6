using Aurous.Api.Metering;
using Microsoft.Extensions.Options;

namespace Aurous.Api.Pipeline;

/// <summary>Endpoint metadata: the route meters tokens per minute (chat, embeddings).</summary>
public sealed class TokenMeteredRoute
{
    public static readonly TokenMeteredRoute Instance = new();
}

/// <summary>
/// Counts every authenticated /v1 request against its team's requests-per-minute bucket; 429 with Retry-After when it
/// is empty. On token-metered routes the unit is taken later, at admission, in the same Redis call as the token
/// estimate (<see cref="MeteringPipeline"/>); a request that ends before admission (a 400, an unknown model) takes it,
/// with a read of the TPM bucket for the headers, as it ends (<see cref="CountPendingAsync"/>, run by the
/// <see cref="PipelineExtensions.MetersTokens"/> filter and here for an exception). A request is judged here at once
/// instead when it carries an Idempotency-Key (a replay ends in admission before any bucket is asked) or when its
/// team's bucket was last seen empty, so that refused requests are refused before their bodies are read.
/// </summary>
public sealed class RequestRateLimiting(RequestDelegate next, RateLimiter limiter, IOptions<RateLimitOptions> options)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var request = context.Features.Get<RequestContext>();
        if (request?.ApiKey is not { } key)
        {
            await next(context);
            return;
        }
        var tokenMetered = context.GetEndpoint()?.Metadata.GetMetadata<TokenMeteredRoute>() is not null;
        if (tokenMetered && !context.Request.Headers.ContainsKey(MeteringPipeline.IdempotencyKeyHeader) && !limiter.RequestsLikelyExhausted(key.TeamId))
        {
            request.RequestUnitPending = true;
            try
            {
                await next(context);
            }
            catch when (request.RequestUnitPending && !context.Response.HasStarted)
            {
                await CountPendingAsync(context, request, limiter, options.Value);
                throw;
            }
            return;
        }
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var (rpm, tpm) = await limiter.AcquireRequestAsync(
            key.TeamId, RequestsPerMinute(key, options.Value), tokenMetered ? TokensPerMinute(key, options.Value) : null);
        request.Time("rpm", started);
        request.RequestBucket = rpm;
        request.TokenBucket = tpm;
        if (!rpm.Allowed)
        {
            await Refusal(context, rpm).WriteAsync(context);
            return;
        }
        await next(context);
    }

    /// <summary>
    /// Takes the RPM unit of a token-metered request that ends before admission, reading the TPM bucket for its
    /// headers; returns the 429 that replaces its response when the bucket is empty.
    /// </summary>
    public static async Task<ApiError?> CountPendingAsync(HttpContext context, RequestContext request, RateLimiter limiter, RateLimitOptions options)
    {
        if (!request.RequestUnitPending || request.ApiKey is not { } key)
        {
            return null;
        }
        request.RequestUnitPending = false;
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var (rpm, tpm) = await limiter.AcquireRequestAsync(key.TeamId, RequestsPerMinute(key, options), TokensPerMinute(key, options));
        request.Time("rpm", started);
        request.RequestBucket = rpm;
        request.TokenBucket = tpm;
        return rpm.Allowed ? null : Refusal(context, rpm);
    }

    /// <summary>The 429 for an empty RPM bucket, with its Retry-After; counted as a rejection.</summary>
    public static ApiError Refusal(HttpContext context, BucketState rpm)
    {
        MeteringTelemetry.RecordRejection((context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? context.Request.Path, "requests_per_minute");
        var retryAfter = Math.Max(1, rpm.RetryAfterSeconds);
        context.Response.Headers.RetryAfter = retryAfter.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return new ApiError(429, "rate_limit_error", "rate_limit_exceeded",
            $"Your team is limited to {rpm.Limit} requests per minute. Retry after {retryAfter} s.");
    }

    public static long RequestsPerMinute(Accounts.ApiKeyRecord key, RateLimitOptions options) => key.RpmLimit ?? options.DefaultRequestsPerMinute;

    public static long TokensPerMinute(Accounts.ApiKeyRecord key, RateLimitOptions options) => key.TpmLimit ?? options.DefaultTokensPerMinute;
}
