using Aurous.Api.Metering;
using Microsoft.Extensions.Options;

namespace Aurous.Api.Pipeline;

/// <summary>Endpoint metadata: the route meters tokens per minute (chat, embeddings).</summary>
public sealed class TokenMeteredRoute
{
    public static readonly TokenMeteredRoute Instance = new();
}

/// <summary>
/// Counts every authenticated /v1 request against its team's requests-per-minute bucket (and reads the TPM bucket on
/// token-metered routes, so even an early error carries both header sets); 429 with Retry-After when it is empty.
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
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var (rpm, tpm) = await limiter.AcquireRequestAsync(
            key.TeamId, RequestsPerMinute(key, options.Value), tokenMetered ? TokensPerMinute(key, options.Value) : null);
        request.Time("rpm", started);
        request.RequestBucket = rpm;
        request.TokenBucket = tpm;
        if (!rpm.Allowed)
        {
            MeteringTelemetry.RecordRejection((context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? context.Request.Path, "requests_per_minute");
            context.Response.Headers.RetryAfter = Math.Max(1, rpm.RetryAfterSeconds).ToString();
            await new ApiError(429, "rate_limit_error", "rate_limit_exceeded",
                $"Your team is limited to {rpm.Limit} requests per minute. Retry after {Math.Max(1, rpm.RetryAfterSeconds)} s.").WriteAsync(context);
            return;
        }
        await next(context);
    }

    public static long RequestsPerMinute(Accounts.ApiKeyRecord key, RateLimitOptions options) => key.RpmLimit ?? options.DefaultRequestsPerMinute;

    public static long TokensPerMinute(Accounts.ApiKeyRecord key, RateLimitOptions options) => key.TpmLimit ?? options.DefaultTokensPerMinute;
}
