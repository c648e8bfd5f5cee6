using System.Text.Json.Serialization;

namespace Aurous.Api.Pipeline;

/// <summary>
/// One API error in the envelope of the product documents:
/// <c>{"error":{"type","code","message","doc_url","request_id"}}</c>. Every non-2xx response carries it.
/// </summary>
/// <remarks>
/// Messages are <see cref="ErrorText"/>: every value interpolated into one is cut to a bounded length, so no error
/// echoes unbounded client input. A message given as a finished string (a worker's) is bounded as a whole.
/// </remarks>
public sealed record ApiError(int Status, string Type, string Code, string Message)
{
    public const string DocsBase = "https://docs.aurous-labs.com/errors#";

    /// <summary>Longest message written; only a message that was not built as <see cref="ErrorText"/> can reach it.</summary>
    public const int MaxMessageLength = 1024;

    public ApiError(int status, string type, string code, ErrorText message) : this(status, type, code, message.ToString())
    {
    }

    public IResult ToResult(HttpContext context) => Results.Json(Envelope(context), statusCode: Status);

    public Task WriteAsync(HttpContext context)
    {
        context.Response.StatusCode = Status;
        return context.Response.WriteAsJsonAsync(Envelope(context), context.RequestAborted);
    }

    private ErrorEnvelope Envelope(HttpContext context) =>
        new(new ErrorBody(Type, Code, Message.Length <= MaxMessageLength ? Message : ErrorText.BoundTo(Message, MaxMessageLength), DocsBase + Code, RequestContext.Of(context).RequestId));

    /// <summary>The error envelope every non-2xx response carries (public so the OpenAPI document can describe it).</summary>
    public sealed record ErrorEnvelope([property: JsonPropertyName("error")] ErrorBody Error);

    public sealed record ErrorBody(string Type, string Code, string Message, string DocUrl, string RequestId);

    // The catalogue of errors, by the codes of the product documents.
    public static ApiError InvalidRequest(string code, ErrorText message) => new(400, "invalid_request", code, message);
    public static ApiError InvalidApiKey(ErrorText message) => new(401, "authentication_error", "invalid_api_key", message);
    public static ApiError PermissionDenied(ErrorText message) => new(403, "permission_error", "permission_denied", message);
    public static ApiError NotFound(string code, ErrorText message) => new(404, "invalid_request", code, message);
    public static ApiError RouteNotFound(HttpContext c) => NotFound("route_not_found", $"No route matches {c.Request.Method} {c.Request.Path}.");
    public static ApiError MethodNotAllowed(HttpContext c) => new(405, "invalid_request", "method_not_allowed", $"{c.Request.Method} is not allowed on {c.Request.Path}.");
    public static ApiError PayloadTooLarge(long limit) => new(413, "invalid_request", "request_too_large", $"The request body exceeds the {limit / (1024 * 1024)} MiB limit.");
    public static ApiError UnsupportedMediaType() => new(415, "invalid_request", "unsupported_media_type", "Send the body as application/json.");
    public static ApiError RangeNotSatisfiable() => new(416, "invalid_request", "range_not_satisfiable", "The requested byte range is outside the file; see Content-Range for its length.");
    public static ApiError Internal() => new(500, "api_error", "internal_error", "The server hit an unexpected error. Retry, and quote the request id if it persists.");
}
