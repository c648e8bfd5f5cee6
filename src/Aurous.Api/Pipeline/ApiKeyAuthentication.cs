using Aurous.Accounts;

namespace Aurous.Api.Pipeline;

/// <summary>Endpoint metadata: the route needs a valid API key.</summary>
public sealed class ApiKeyRequirement
{
    public static readonly ApiKeyRequirement Instance = new();
}

/// <summary>Endpoint metadata: the key must carry this scope.</summary>
public sealed record ScopeRequirement(string Scope);

/// <summary>
/// Authenticates <c>X-Api-Key: al_live_…</c> or <c>Authorization: Bearer al_live_…</c> (what the OpenAI SDKs send)
/// against the stored SHA-256 hashes. Runs after routing and before model binding, so an unauthenticated request
/// learns nothing about its body's validity. Keys come from <see cref="ApiKeyCache"/>; whether one is usable now
/// (revoked, or past its rotation grace) is judged on every request, so a cached key's grace still ends on time.
/// Every key that authenticates is noted in <see cref="KeyUsageRecorder"/> (memory; written in batches) for "last used".
/// A client address with too many failed keys (<see cref="AuthFailureLimiter"/>) gets 429 without a lookup.
/// </summary>
public sealed class ApiKeyAuthentication(RequestDelegate next, ApiKeyCache keys, AuthFailureLimiter failures, KeyUsageRecorder usage, TimeProvider clock)
{
    public async Task InvokeAsync(HttpContext context)
    {
        if (context.GetEndpoint()?.Metadata.GetMetadata<ApiKeyRequirement>() is null)
        {
            await next(context);
            return;
        }

        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var (hash, error) = HashPresentedKey(context.Request);
        if (hash is not null)
        {
            var client = context.Connection.RemoteIpAddress;
            var key = keys.Cached(hash);
            if (key is null && failures.IsBlocked(client, out var retryAfter))
            {
                context.Response.Headers.RetryAfter = retryAfter.ToString(System.Globalization.CultureInfo.InvariantCulture);
                await new ApiError(429, "rate_limit_error", "too_many_failed_authentications",
                    $"Too many requests from this address failed authentication. Retry after {retryAfter} s with a valid API key.").WriteAsync(context);
                return;
            }
            key ??= await keys.FindAsync(hash, context.RequestAborted);
            RequestContext.Of(context).Time("auth", started);
            var now = clock.GetUtcNow();
            if (key is not null && key.IsUsableAt(now))
            {
                usage.Record(key.Id, now);
            }
            if (key is null || !key.IsUsableAt(now))
            {
                failures.RecordFailure(client);
                error = ApiError.InvalidApiKey(key is null
                    ? "The API key is not recognised."
                    : "The API key has been revoked or its rotation grace period has ended.");
            }
            else if (context.GetEndpoint()?.Metadata.GetMetadata<ScopeRequirement>() is { } scope && !key.HasScope(scope.Scope))
            {
                RequestContext.Of(context).ApiKey = key;
                error = ApiError.PermissionDenied($"This API key lacks the '{scope.Scope}' scope. Create a key with it in the dashboard.");
            }
            else
            {
                RequestContext.Of(context).ApiKey = key;
            }
        }

        if (error is { Status: 401 })
        {
            context.Response.Headers.WWWAuthenticate = "Bearer";
        }
        if (error is not null)
        {
            await error.WriteAsync(context);
            return;
        }
        await next(context);
    }

    /// <summary>The SHA-256 of the presented key (read in place, without copying it), or why there is none.</summary>
    private static (byte[]? Hash, ApiError? Error) HashPresentedKey(HttpRequest request)
    {
        ReadOnlySpan<char> presented;
        if (request.Headers.TryGetValue(AurousHeaders.ApiKey, out var apiKey) && !string.IsNullOrWhiteSpace(apiKey))
        {
            presented = apiKey.ToString().AsSpan().Trim();
        }
        else
        {
            var auth = request.Headers.Authorization.ToString().AsSpan();
            const string bearer = "Bearer ";
            if (!auth.StartsWith(bearer, StringComparison.OrdinalIgnoreCase))
            {
                return (null, ApiError.InvalidApiKey("No API key provided. Send it in the X-Api-Key header or as Authorization: Bearer al_live_…."));
            }
            presented = auth[bearer.Length..].Trim();
        }
        return ApiKeySecret.IsWellFormed(presented)
            ? (ApiKeySecret.Hash(presented), null)
            : (null, ApiError.InvalidApiKey("The API key is malformed; keys look like al_live_ followed by 64 hex characters."));
    }
}
