using System.Text;
using Aurous.Api.Inference;
using Aurous.Api.Metering;
using Aurous.Inference.Contracts;
using Aurous.Models;
using Aurous.Persistence;
using Microsoft.AspNetCore.Http.Features;

namespace Aurous.Api.Chat;

/// <summary>
/// POST /v1/chat/completions (sync and SSE streaming) and GET /v1/chat/completions/{id}, on the shared metering
/// pipeline: the prompt is tokenised here for the hold and the TPM bucket, the worker generates, and the exact prompt
/// and completion tokens are charged. A client that hangs up mid-stream stops the generation and pays for what was produced.
/// </summary>
public static class ChatApi
{
    public const string Scope = "chat";

    public static RouteGroupBuilder MapChatApi(this RouteGroupBuilder v1)
    {
        var group = v1.MapGroup("/chat/completions").WithTags("Chat").RequireScope(Scope);
        group.MapPost("/", Create).MetersTokens().WithName("CreateChatCompletion")
            .WithSummary("Creates a chat completion, streamed as server-sent events with stream: true.")
            .Accepts<JsonElement>("application/json");
        group.MapGet("/{id}", Get).WithName("GetChatCompletion").WithSummary("Returns a stored chat completion of your team.");
        return group;
    }

    private static async Task<IResult> Create(
        HttpContext context, ModelCatalog catalog, ModelTokenizers tokenizers, MeteringPipeline metering, InferenceWorkerClient worker, ChatCompletionStore store,
        ServedContextWindows servedWindows)
    {
        var rc = RequestContext.Of(context);
        var parsing = System.Diagnostics.Stopwatch.GetTimestamp();
        var (body, bodyError) = await JsonBody.ReadAsync(context);
        if (bodyError is not null)
        {
            return bodyError.ToResult(context);
        }
        var (request, error) = ChatRequest.Parse(body, catalog, tokenizers);
        if (error is null)
        {
            // The worker's memory budget may serve less than the nominal window: refused here, before any hold.
            (request, error) = await servedWindows.FitAsync(request!, body, context.RequestAborted);
        }
        rc.Time("parse", parsing);
        if (error is not null)
        {
            return error.ToResult(context);
        }

        var manifest = request!.Model.Manifest;
        // max_tokens bounds reasoning + visible answer together (as OpenAI's max_completion_tokens), so it covers both.
        var estimate = new TokenUsage(request.PromptTokenIds.Length - request.VisualTokens, request.VisualTokens, TextOutput: request.MaxTokens);
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var workerRequest = new InternalChatRequest
        {
            Model = manifest.Id, PromptTokenIds = request.PromptTokenIds, MaxTokens = request.MaxTokens, Temperature = request.Temperature,
            TopP = request.TopP, Seed = request.Seed, Stop = request.Stop, ResponseFormat = request.ResponseFormat,
            ReasoningBudget = request.ReasoningBudget, Tools = request.Tools?.Tools, ToolChoice = request.Tools?.Mode,
            ParallelToolCalls = request.Tools?.Parallel, Images = request.ImageUrls,
        };
        // The worker starts (prefill) while the TPM bucket and the credit hold are asked; it is stopped if either refuses.
        var (admitted, ended, start) = await metering.AdmitAlongsideAsync(context, new AdmissionRequest(
                "chat.completions", request.Model, estimate.TotalTokens, Pricing.Price(manifest, estimate).Total,
                request.Stream ? null : body, request.User),
            ct => worker.StartChatAsync(workerRequest, ct),
            static s => s.Stream?.DisposeAsync() ?? ValueTask.CompletedTask);
        // Admission and the worker's response headers, overlapped (the stages inside it are timed on their own).
        rc.Time("admit+worker", started);
        if (ended is not null)
        {
            return ended;
        }
        await using var metered = admitted!;
        var (stream, workerError) = start;
        if (workerError is not null)
        {
            return await metered.FailAsync(workerError);
        }
        await using var generation = stream!;

        var completion = new ChatCompletion(Ulid.NewId("cmp"), DateTimeOffset.UtcNow.ToUnixTimeSeconds(), request.RequestedModel, request.PromptTokenIds.Length, request.VisualTokens);
        if (request.Stream)
        {
            if (await StreamAsync(context, generation, completion, metered, tokenizers.For(request.Model)!))
            {
                await store.SaveAsync(completion, rc.TeamId, rc.RequestId, manifest.Id);
            }
            return Results.Empty;
        }

        await foreach (var e in generation.ReadAsync(context.RequestAborted))
        {
            if (!completion.Apply(e))
            {
                LogWorkerFailure(context, e);
                return await metered.FailAsync(new ApiError(503, "api_error", "model_unavailable", "The model failed while generating. Retry shortly."));
            }
        }
        rc.Time("inference", started);
        var result = await metered.CompleteAsync(completion.Usage, charge => completion.RenderJson(UsageBlock.For(completion.Model, completion.Usage, charge, withCompletion: true, completion.ReasoningTokens)));
        await store.SaveAsync(completion, rc.TeamId, rc.RequestId, manifest.Id);
        return result;
    }

    private static void LogWorkerFailure(HttpContext context, InternalChatEvent e) =>
        context.RequestServices.GetRequiredService<ILogger<ChatCompletion>>().LogError(
            "The worker failed while generating {RequestId}: {Code} {Message}", RequestContext.Of(context).RequestId, e.Code, e.Message);

    /// <summary>
    /// Streams the generation as SSE; false when the worker failed (the stream then ends with an error event and
    /// nothing is charged). The request is settled once: captured when the generation ends (before the final chunks are
    /// written, so a client leaving during them changes nothing), or released at a worker failure before the client is
    /// told; a client that hangs up earlier pays for what was produced.
    /// </summary>
    private static async Task<bool> StreamAsync(HttpContext context, WorkerChatStream generation, ChatCompletion completion, MeteredRequest metered, Tokenizers.BpeTokenizer tokenizer)
    {
        var response = context.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        // Headers (request id, rate limits) go out before the first token.
        await response.StartAsync(context.RequestAborted);

        var failed = false;
        try
        {
            var first = true;
            await foreach (var e in generation.ReadAsync(context.RequestAborted))
            {
                if (!completion.Apply(e))
                {
                    // The worker failed mid-stream: release the hold first (nothing usable was delivered, and a client
                    // leaving while the error is written must not turn into a charge), then say so in the stream.
                    LogWorkerFailure(context, e);
                    failed = true;
                    await metered.DisposeAsync();
                    await WriteEventAsync(response, JsonSerializer.Serialize(new
                    {
                        error = new { type = "api_error", code = "model_unavailable", message = "The model failed while generating.", request_id = RequestContext.Of(context).RequestId },
                    }), context.RequestAborted);
                    return false;
                }
                if (e.Type == "delta" && !string.IsNullOrEmpty(e.Text))
                {
                    await WriteEventAsync(response, completion.RenderChunk(e.Text, first ? "assistant" : null, null, null), context.RequestAborted);
                    first = false;
                }
                else if (e.Type == "tool_call" && e.Index is { } index)
                {
                    // OpenAI's shape: the first delta of a call carries its id, type and name; later ones argument text.
                    var call = completion.ToolCalls[index];
                    var delta = e.Name is not null ? new ToolCallDelta(index, call.Id, call.Name, e.Arguments ?? "") : new ToolCallDelta(index, null, null, e.Arguments ?? "");
                    await WriteEventAsync(response, completion.RenderChunk(null, first ? "assistant" : null, null, null, delta), context.RequestAborted);
                    first = false;
                }
            }
            var charge = await metered.CaptureStreamAsync(completion.Usage);
            var usage = UsageBlock.For(completion.Model, completion.Usage, charge, withCompletion: true, completion.ReasoningTokens);
            completion.RenderJson(usage); // what GET /v1/chat/completions/{id} returns later
            await WriteEventAsync(response, completion.RenderChunk(null, first ? "assistant" : null, completion.FinishReason, null), context.RequestAborted);
            // The final non-[DONE] chunk carries the usage with credits_charged, as OpenAI's include_usage chunk does.
            await WriteEventAsync(response, completion.RenderChunk(null, null, null, usage), context.RequestAborted);
            await response.WriteAsync("data: [DONE]\n\n", context.RequestAborted);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            if (failed)
            {
                return false; // released at the worker's failure: never charged afterwards, not stored
            }
            if (metered.IsSettled)
            {
                return true; // captured already (the client left during the final chunks): the rendered usage stands
            }
            // The client hung up: closing the worker stream stops the generation; charge what was produced.
            completion.FinishReason ??= "cancelled";
            var produced = completion.CompletionTokens ?? tokenizer.CountTokens(completion.Text.ToString());
            var usage = completion.Usage with { TextOutput = produced };
            var charge = await metered.CaptureStreamAsync(usage);
            completion.RenderJson(UsageBlock.For(completion.Model, usage, charge, withCompletion: true, completion.ReasoningTokens));
        }
        return true;
    }

    private static async Task WriteEventAsync(HttpResponse response, string json, CancellationToken ct)
    {
        await response.WriteAsync("data: " + json + "\n\n", ct);
        await response.Body.FlushAsync(ct);
    }

    private static async Task<IResult> Get(string id, HttpContext context, ChatCompletionStore store) =>
        await store.FindAsync(RequestContext.Of(context).TeamId, id, context.RequestAborted) is { } body
            ? new RawJsonResult(Encoding.UTF8.GetBytes(body), "application/json")
            : ApiError.NotFound("completion_not_found", $"No chat completion '{id}' exists for your team.").ToResult(context);
}
