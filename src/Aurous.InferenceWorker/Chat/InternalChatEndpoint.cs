using System.Diagnostics;
using System.Text.Json;
using Aurous.Inference.Contracts;

namespace Aurous.InferenceWorker.Chat;

/// <summary>
/// <c>POST /internal/chat/completions</c>: the API's call into the worker (internal network, internal API key).
/// <list type="bullet">
/// <item>Refused before streaming: 400 / 404 / 503 with <c>{"error":{"code","message","part":null}}</c>
/// (<c>invalid_request</c>, <c>model_not_supported</c>, <c>model_not_found</c>, <c>model_not_ready</c>).</item>
/// <item>Accepted: 200 <c>application/x-ndjson</c>, headers flushed at once (before the queue and the prefill), then one
/// <see cref="InternalChatEvent"/> per line, each flushed.</item>
/// <item>The client closing the connection cancels the generation within one decode step.</item>
/// </list>
/// </summary>
public static class InternalChatEndpoint
{
    public static IEndpointRouteBuilder MapInternalChat(this IEndpointRouteBuilder app)
    {
        app.MapPost(InternalRoutes.ChatCompletions, HandleAsync).WithName("InternalChatCompletions").ExcludeFromDescription();
        return app;
    }

    /// <summary>Request header: <c>alone</c> decodes this generation with runs of its own, outside the batched decode loop.</summary>
    public const string DecodeHeader = "Aurous-Decode";

    private static async Task HandleAsync(HttpContext context, ChatEngine engine, ILoggerFactory loggers)
    {
        var receivedAt = Stopwatch.GetTimestamp();
        var aborted = context.RequestAborted;
        InternalChatRequest? request;
        try
        {
            request = await JsonSerializer.DeserializeAsync<InternalChatRequest>(context.Request.Body, InternalJson.Options, aborted);
        }
        catch (JsonException ex)
        {
            await ErrorAsync(context, 400, "invalid_request", $"the body is not valid JSON for this endpoint: {ex.Message}");
            return;
        }
        catch (BadHttpRequestException ex)
        {
            await ErrorAsync(context, ex.StatusCode, "invalid_request", ex.Message);
            return;
        }
        if (request is null)
        {
            await ErrorAsync(context, 400, "invalid_request", "the body must be a JSON object");
            return;
        }
        ChatGeneration generation;
        try
        {
            generation = await engine.EncodeImagesAsync(engine.Prepare(request), aborted);
            if (string.Equals(context.Request.Headers[DecodeHeader], "alone", StringComparison.OrdinalIgnoreCase))
            {
                generation = generation with { DecodeAlone = true };
            }
        }
        catch (ChatRequestException ex)
        {
            await ErrorAsync(context, ex.Status, ex.Code, ex.Message);
            return;
        }

        context.Response.StatusCode = 200;
        context.Response.ContentType = InternalRoutes.ChatStreamContentType;
        context.Response.Headers.CacheControl = "no-cache";
        var body = context.Response.Body;
        try
        {
            await context.Response.StartAsync(aborted);
            await body.FlushAsync(aborted);
            await foreach (var e in engine.GenerateAsync(generation, receivedAt, aborted))
            {
                await WriteLineAsync(body, e, aborted);
            }
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            // The client went away: the generation has stopped; nobody is left to tell.
        }
        catch (IOException) when (aborted.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            loggers.CreateLogger(typeof(InternalChatEndpoint)).LogError(ex, "Chat generation for {Model} failed mid-stream", generation.ModelId);
            try
            {
                await WriteLineAsync(body, null, aborted, ("generation_failed", ex.Message));
            }
            catch (Exception write) when (write is IOException or OperationCanceledException or ObjectDisposedException)
            {
            }
        }
    }

    private static async Task WriteLineAsync(Stream body, ChatEvent? e, CancellationToken cancellationToken, (string Code, string Message)? error = null)
    {
        var line = e switch
        {
            ChatDelta delta => InternalChatEvent.Delta(delta.Text, delta.CompletionTokens),
            ChatToolCallDelta call => InternalChatEvent.ToolCall(call.Index, call.Name, call.Arguments, call.CompletionTokens),
            ChatProgress progress => InternalChatEvent.Progress(progress.CompletionTokens),
            ChatDone done => InternalChatEvent.Done(done.FinishReason, done.PromptTokens, done.CompletionTokens, done.ReasoningTokens, done.TimeToFirstTokenMs),
            _ => InternalChatEvent.Error(error?.Code ?? "generation_failed", error?.Message ?? "generation failed"),
        };
        using var buffer = new MemoryStream();
        JsonSerializer.Serialize(buffer, line, InternalJson.Options);
        buffer.WriteByte((byte)'\n');
        await body.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), cancellationToken);
        await body.FlushAsync(cancellationToken);
    }

    private static Task ErrorAsync(HttpContext context, int status, string code, string message) =>
        Results.Json(new InternalErrorResponse(new InternalError(code, message)), InternalJson.Options, statusCode: status).ExecuteAsync(context);
}
