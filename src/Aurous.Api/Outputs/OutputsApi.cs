using Aurous.Jobs;
using Microsoft.Net.Http.Headers;

namespace Aurous.Api.Outputs;

/// <summary>
/// GET and HEAD /v1/outputs/{token}: a job's output file, anonymous (the 256-bit token is the credential), until it
/// expires (7 days for images, 24 hours for videos; then 410 output_expired, even before its blob is deleted). Range
/// requests are answered 206 (or 416), so videos stream and downloads resume; only the bytes asked for are read from
/// blob storage.
/// </summary>
public static class OutputsApi
{
    /// <summary>An output token as the API issues them: 32 random bytes in unpadded base64url.</summary>
    private const int TokenLength = 43;

    public static RouteGroupBuilder MapOutputsApi(this IEndpointRouteBuilder app)
    {
        // Outside the authenticated /v1 group: output links work without an API key.
        var group = app.MapGroup("/v1/outputs").WithTags("Outputs");
        group.MapMethods("/{token}", [HttpMethods.Get, HttpMethods.Head], GetAsync).WithName("GetOutput")
            .WithSummary("Downloads a job's output (no API key: the link is the credential); supports Range.")
            .Produces(StatusCodes.Status200OK, contentType: "image/png", additionalContentTypes: ["video/mp4"])
            .Produces(StatusCodes.Status206PartialContent)
            .ProducesErrors(404, 410, 416);
        return group;
    }

    private static async Task<IResult> GetAsync(HttpContext context, string token, JobStore jobs, OutputBlobs blobs, TimeProvider clock)
    {
        var found = IsWellFormed(token) ? await jobs.FindOutputAsync(token, context.RequestAborted) : null;
        // Outputs of a run that did not succeed (a cancel won the race) were never linked: they do not exist.
        if (found is not { } hit || hit.Job.Status != JobStatus.Succeeded)
        {
            return NotFound(context);
        }
        var (output, job) = hit;
        var now = clock.GetUtcNow();
        if (now > output.ExpiresAt || output.DeletedAt is not null)
        {
            return new ApiError(410, "invalid_request", "output_expired",
                $"This output expired at {output.ExpiresAt:u}; outputs are kept {(job.Kind == JobKind.Image ? "7 days" : "24 hours")} after generation.").ToResult(context);
        }
        var stream = await blobs.OpenReadAsync(output.BlobName, context.RequestAborted);
        if (stream is null)
        {
            return NotFound(context);
        }
        var headers = context.Response.Headers;
        headers.CacheControl = $"public, max-age={(long)(output.ExpiresAt - now).TotalSeconds}, immutable";
        headers.XContentTypeOptions = "nosniff";
        headers.ContentDisposition = new ContentDispositionHeaderValue("inline")
        {
            FileName = $"{job.Id}-{output.Index}.{(output.ContentType == "video/mp4" ? "mp4" : "png")}",
        }.ToString();
        // The framework answers Range (206, 416, If-Range), HEAD and Content-Length from the seekable blob stream.
        return Results.Stream(stream, output.ContentType, lastModified: output.CreatedAt,
            entityTag: new EntityTagHeaderValue($"\"{token[..16]}\""), enableRangeProcessing: true);
    }

    private static bool IsWellFormed(string token) =>
        token.Length == TokenLength && token.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');

    private static IResult NotFound(HttpContext context) =>
        ApiError.NotFound("output_not_found", "No output exists at this link. Check that the URL was copied whole.").ToResult(context);
}
