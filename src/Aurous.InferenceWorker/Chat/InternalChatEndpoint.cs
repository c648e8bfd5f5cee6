using System.Diagnostics;
using System.Text.Json;
using Aurous.InferenceWorker.Embeddings;

namespace Aurous.InferenceWorker.Chat;

/// <summary>
/// <c>POST /internal/chat/completions</c>: the API's call into the worker (internal network only, no auth of its own).
/// <list type="bullet">
/// <item>Refused before streaming: 400 / 404 / 503 with <c>{"error":{"code","message","part":null}}</c>
/// (<c>invalid_request</c>, <c>model_not_supported</c>, <c>model_not_found</c>, <c>model_not_ready</c>).</item>
/// <item>Accepted: 200 <c>application/x-ndjson</c>, headers flushed at once (before the queue and the prefill), then one
/// JSON object per line, each flushed: <c>{"type":"delta","text":"...","completion_tokens":N}</c> (never empty),
/// <c>{"type":"progress","completion_tokens":N}</c> during hidden reasoning, and last either
/// <c>{"type":"done","finish_reason":"stop"|"length","prompt_tokens":N,"completion_tokens":M,"reasoning_tokens":R,"time_to_first_token_ms":x}</c>
/// or <c>{"type":"error","code":"generation_failed","message":"..."}</c>.</item>
/// <item>The client closing the connection cancels the generation within one decode step.</item>
/// </list>
/// </summary>
public static class InternalChatEndpoint
{
    public const string Route = "/internal/chat/completions";
    public const string ContentType = "application/x-ndjson";

    public static IEndpointRouteBuilder MapInternalChat(this IEndpointRouteBuilder app)
    {
        app.MapPost(Route, HandleAsync).WithName("InternalChatCompletions").ExcludeFromDescription();
        return app;
    }

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
        }
        catch (ChatRequestException ex)
        {
            await ErrorAsync(context, ex.Status, ex.Code, ex.Message);
            return;
        }

        context.Response.StatusCode = 200;
        context.Response.ContentType = ContentType;
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
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            switch (e)
            {
                case ChatDelta delta:
                    w.WriteString("type", "delta");
                    w.WriteString("text", delta.Text);
                    w.WriteNumber("completion_tokens", delta.CompletionTokens);
                    break;
                case ChatToolCallDelta call:
                    w.WriteString("type", "tool_call");
                    w.WriteNumber("index", call.Index);
                    if (call.Name is not null)
                    {
                        w.WriteString("name", call.Name);
                    }
                    w.WriteString("arguments", call.Arguments);
                    w.WriteNumber("completion_tokens", call.CompletionTokens);
                    break;
                case ChatProgress progress:
                    w.WriteString("type", "progress");
                    w.WriteNumber("completion_tokens", progress.CompletionTokens);
                    break;
                case ChatDone done:
                    w.WriteString("type", "done");
                    w.WriteString("finish_reason", done.FinishReason);
                    w.WriteNumber("prompt_tokens", done.PromptTokens);
                    w.WriteNumber("completion_tokens", done.CompletionTokens);
                    w.WriteNumber("reasoning_tokens", done.ReasoningTokens);
                    w.WriteNumber("time_to_first_token_ms", done.TimeToFirstTokenMs);
                    break;
                default:
                    w.WriteString("type", "error");
                    w.WriteString("code", error?.Code ?? "generation_failed");
                    w.WriteString("message", error?.Message ?? "generation failed");
                    break;
            }
            w.WriteEndObject();
        }
        buffer.WriteByte((byte)'\n');
        await body.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), cancellationToken);
        await body.FlushAsync(cancellationToken);
    }

    private static Task ErrorAsync(HttpContext context, int status, string code, string message) =>
        Results.Json(new InternalErrorResponse(new InternalError(code, message, null)), InternalJson.Options, statusCode: status).ExecuteAsync(context);
}
