using System.Text.Json;
using Aurous.Inference.Contracts;
using Microsoft.AspNetCore.Http.Features;

namespace Aurous.InferenceWorker.Embeddings;

/// <summary>
/// <c>POST /internal/embeddings</c>: the API's call into the worker (internal network, internal API key). 200 with
/// <see cref="InternalEmbeddingFrame"/> when the caller accepts it, else <see cref="InternalEmbeddingResponse"/> as JSON;
/// 4xx/503 with <see cref="InternalErrorResponse"/>.
/// </summary>
public static class InternalEmbeddingsEndpoint
{
    /// <summary>Up to 100 parts of data: URLs of 20 MB media each would not fit the default 30 MB body limit.</summary>
    public const long MaxRequestBodyBytes = 512L * 1024 * 1024;

    public static IEndpointRouteBuilder MapInternalEmbeddings(this IEndpointRouteBuilder app)
    {
        app.MapPost(InternalRoutes.Embeddings, HandleAsync).WithName("InternalEmbeddings").ExcludeFromDescription();
        return app;
    }

    private static async Task<IResult> HandleAsync(HttpContext context, EmbeddingService service, ILoggerFactory loggers)
    {
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = MaxRequestBodyBytes;
        }
        InternalEmbeddingRequest? request;
        try
        {
            request = await JsonSerializer.DeserializeAsync<InternalEmbeddingRequest>(context.Request.Body, InternalJson.Options, context.RequestAborted);
        }
        catch (JsonException ex)
        {
            return Error(400, "invalid_request", $"the body is not valid JSON for this endpoint: {ex.Message}", null);
        }
        catch (BadHttpRequestException ex)
        {
            return Error(ex.StatusCode, "invalid_request", ex.Message, null);
        }
        if (request is null)
        {
            return Error(400, "invalid_request", "the body must be a JSON object", null);
        }
        try
        {
            var response = await service.EmbedAsync(request, context.RequestAborted);
            return WantsFrame(context.Request) ? new FrameResult(response) : Results.Json(response, InternalJson.Options);
        }
        catch (EmbeddingRequestException ex)
        {
            if (ex.Status >= 500)
            {
                loggers.CreateLogger(typeof(InternalEmbeddingsEndpoint)).LogWarning("Embedding request refused with {Status} {Code}: {Message}", ex.Status, ex.Code, ex.Message);
            }
            return Error(ex.Status, ex.Code, ex.Message, ex.Part);
        }
    }

    private static bool WantsFrame(HttpRequest request)
    {
        foreach (var accept in request.Headers.Accept)
        {
            if (accept is not null && accept.Contains(InternalEmbeddingFrame.ContentType, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>The vector as <see cref="InternalEmbeddingFrame"/>: its float32 bytes, written once into the response.</summary>
    private sealed class FrameResult(InternalEmbeddingResponse response) : IResult
    {
        public Task ExecuteAsync(HttpContext context)
        {
            var length = InternalEmbeddingFrame.Length(response.Embedding.Length);
            context.Response.ContentType = InternalEmbeddingFrame.ContentType;
            context.Response.ContentLength = length;
            var writer = context.Response.BodyWriter;
            InternalEmbeddingFrame.Write(writer.GetSpan(length), response.Embedding, response.Usage);
            writer.Advance(length);
            return writer.FlushAsync(context.RequestAborted).AsTask();
        }
    }

    private static IResult Error(int status, string code, string message, int? part) =>
        Results.Json(new InternalErrorResponse(new InternalError(code, message, part)), InternalJson.Options, statusCode: status);
}
