namespace Aurous.Api.Metering;

/// <summary>Writes stored bytes as they are, so an idempotent replay is byte for byte the original response.</summary>
public sealed class RawJsonResult(byte[] body, string? contentType, int statusCode = StatusCodes.Status200OK) : IResult
{
    public Task ExecuteAsync(HttpContext httpContext)
    {
        httpContext.Response.StatusCode = statusCode;
        httpContext.Response.ContentType = contentType ?? "application/json";
        httpContext.Response.ContentLength = body.Length;
        return httpContext.Response.Body.WriteAsync(body, httpContext.RequestAborted).AsTask();
    }
}
