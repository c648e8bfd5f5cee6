using Aurous.Accounts;
using System.Globalization;
using System.Runtime.CompilerServices;

namespace Aurous.Api.Pipeline;

/// <summary>
/// First in the pipeline: gives the request its <see cref="RequestContext"/> (id, requested API version) and, as the
/// response starts, writes the headers every response carries: request id, API version, Server-Timing and the
/// rate-limit buckets the request was judged against. A malformed Aurous-Version or request line is refused here.
/// </summary>
public sealed class RequestContextMiddleware(RequestDelegate next)
{
    private static readonly Func<object, Task> WriteHeaders = static state =>
    {
        var context = (HttpContext)state;
        var request = context.Features.Get<RequestContext>()!;
        var headers = context.Response.Headers;
        headers[AurousHeaders.RequestId] = request.RequestId;
        headers[AurousHeaders.Version] = request.ApiVersion;
        if (request.Timings.Count > 0)
        {
            headers["Server-Timing"] = ServerTiming(request.Timings);
        }
        if (request.RequestBucket is { } rpm)
        {
            headers["X-RateLimit-Limit"] = rpm.Limit.ToString(CultureInfo.InvariantCulture);
            headers["X-RateLimit-Remaining"] = rpm.Remaining.ToString(CultureInfo.InvariantCulture);
            headers["X-RateLimit-Reset"] = rpm.ResetSeconds.ToString(CultureInfo.InvariantCulture);
        }
        if (request.TokenBucket is { } tpm)
        {
            headers["X-RateLimit-TPM-Limit"] = tpm.Limit.ToString(CultureInfo.InvariantCulture);
            headers["X-RateLimit-TPM-Remaining"] = tpm.Remaining.ToString(CultureInfo.InvariantCulture);
            headers["X-RateLimit-TPM-Reset"] = tpm.ResetSeconds.ToString(CultureInfo.InvariantCulture);
        }
        return Task.CompletedTask;
    };

    public async Task InvokeAsync(HttpContext context)
    {
        string? requested = null;
        ApiError? versionError = null;
        if (context.Request.Headers.TryGetValue(AurousHeaders.Version, out var header))
        {
            switch (ApiVersions.TryResolve(header.ToString().Trim(), out var resolved))
            {
                case ApiVersions.Outcome.Resolved:
                    requested = resolved;
                    break;
                case ApiVersions.Outcome.Malformed:
                    versionError = ApiError.InvalidRequest("invalid_api_version", $"Aurous-Version must be a date in the form YYYY-MM-DD; received '{header}'.");
                    break;
                default:
                    versionError = ApiError.InvalidRequest("unsupported_api_version",
                        $"No API version was released on or before {header}; the first is {ApiVersions.Released[0]}.");
                    break;
            }
        }

        context.Features.Set(new RequestContext { RequestId = Persistence.Ulid.NewId("req"), RequestedVersion = requested });
        context.Response.OnStarting(WriteHeaders, context);

        // Line and header rules come first: a repeated Aurous-Version is refused as such, not parsed as "a,b".
        if ((RequestLimits.Check(context.Request) ?? versionError) is { } error)
        {
            await error.WriteAsync(context);
            return;
        }
        await next(context);
    }

    /// <summary>The standard Server-Timing value: <c>stage;dur=1.234, ...</c>.</summary>
    private static string ServerTiming(List<(string Stage, double Milliseconds)> timings)
    {
        var text = new DefaultInterpolatedStringHandler(0, 0, CultureInfo.InvariantCulture, stackalloc char[256]);
        for (var i = 0; i < timings.Count; i++)
        {
            if (i > 0)
            {
                text.AppendLiteral(", ");
            }
            text.AppendLiteral(timings[i].Stage);
            text.AppendLiteral(";dur=");
            text.AppendFormatted(timings[i].Milliseconds, "0.###");
        }
        return text.ToStringAndClear();
    }
}
