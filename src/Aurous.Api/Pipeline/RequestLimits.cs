using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Aurous.Api.Pipeline;

/// <summary>
/// The product's limits on a request's line and headers, and the checks on headers every route shares. Kestrel's own
/// limits are set above the product's, so that a request between the two reaches the pipeline and is refused here in
/// the error envelope (Kestrel itself answers with an empty body); only a request past Kestrel's limits, or one that is
/// not HTTP at all, still gets Kestrel's bare answer.
/// </summary>
public static class RequestLimits
{
    /// <summary>All request headers together, names and values, counted as on the wire (name: value CRLF).</summary>
    public const int MaxHeadersTotalBytes = 32 * 1024;
    public const int MaxHeaderCount = 100;
    /// <summary>Path and query string.</summary>
    public const int MaxRequestTargetLength = 8 * 1024;

    // Kestrel's limits: the room above the product's limits in which the envelope can still be written.
    public const int ServerHeadersTotalBytes = 4 * MaxHeadersTotalBytes;
    public const int ServerHeaderCount = 2 * MaxHeaderCount;
    public const int ServerRequestLineBytes = 2 * MaxRequestTargetLength;

    /// <summary>Headers the API reads as one value: a repeated one would reach us joined ("a,b"), so it is refused instead.</summary>
    public static readonly IReadOnlyList<string> SingleValuedHeaders =
        ["Authorization", AurousHeaders.ApiKey, AurousHeaders.Version, "Idempotency-Key", "Content-Type"];

    public static void ApplyTo(KestrelServerLimits limits)
    {
        limits.MaxRequestHeadersTotalSize = ServerHeadersTotalBytes;
        limits.MaxRequestHeaderCount = ServerHeaderCount;
        limits.MaxRequestLineSize = ServerRequestLineBytes;
    }

    /// <summary>The error for a request whose line or headers break the product's rules; null when they are fine.</summary>
    public static ApiError? Check(HttpRequest request)
    {
        if (request.Path.Value?.Length + request.QueryString.Value?.Length > MaxRequestTargetLength)
        {
            return new ApiError(414, "invalid_request", "request_uri_too_long",
                $"The request URL exceeds {MaxRequestTargetLength} characters.");
        }
        var headers = request.Headers;
        if (headers.Count > MaxHeaderCount)
        {
            return HeadersTooLarge($"The request has {headers.Count} headers; at most {MaxHeaderCount} are accepted.");
        }
        long total = 0;
        foreach (var (name, values) in headers)
        {
            foreach (var value in values)
            {
                total += name.Length + (value?.Length ?? 0) + 4;
            }
        }
        if (total > MaxHeadersTotalBytes)
        {
            return HeadersTooLarge($"The request headers total about {total} bytes; at most {MaxHeadersTotalBytes} are accepted.");
        }
        foreach (var name in SingleValuedHeaders)
        {
            if (headers.TryGetValue(name, out var values) && values.Count > 1)
            {
                return ApiError.InvalidRequest("duplicate_header", $"The {name} header was sent {values.Count} times; send it once.");
            }
        }
        return null;
    }

    private static ApiError HeadersTooLarge(ErrorText message) => new(431, "invalid_request", "request_headers_too_large", message);
}
