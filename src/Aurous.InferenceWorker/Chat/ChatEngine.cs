using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Aurous.Inference.Contracts;
using Aurous.InferenceWorker.Models;
using Aurous.Models;

namespace Aurous.InferenceWorker.Chat;

/// <summary>A validated request, bound to its loaded model.</summary>
public sealed record ChatGeneration(
    string ModelId,
    ChatModel Model,
    long[] Prompt,
    int MaxTokens,
    double Temperature,
    double TopP,
    ulong Seed,
    IReadOnlyList<string> Stop,
    bool IgnoreEos,
    SchemaNode? Format = null,
    int ReasoningBudget = 0,
    ToolCalling? Tools = null,
    IReadOnlyList<string>? Images = null,
    MediaRules? Media = null)
{
    /// <summary>The images' features for the prompt's image pad tokens, once <see cref="ChatEngine.EncodeImagesAsync"/> has run.</summary>
    public float[]? ImageFeatures { get; init; }

    /// <summary>Decode with a decoder run of its own per token even where <c>Inference:MaxDecodeBatch</c> batches the rest
    /// (the internal endpoint's <c>Aurous-Decode: alone</c> header: a diagnostic and benchmark switch).</summary>
    public bool DecodeAlone { get; init; }
}

/// <summary>
/// Chat generation: every request runs its own loop (prefill of the prompt in chunks of
/// <c>Inference:PrefillChunkTokens</c> on the shared, thread-safe ONNX Runtime session, so a long generation never
/// holds back a short one's first token; then one token per step against its own KV cache, sampled with its own
/// sampler and constraints). The decode steps of all generations of a model run batched, one decoder run per step
/// (<see cref="DecodeBatcher"/>, <c>Inference:MaxDecodeBatch</c>; 1: each loop runs its own). A generation first reserves its peak memory
/// from <c>Inference:MemoryBudgetMb</c> (<see cref="MemoryAdmission"/>), then takes one of
/// <c>Inference:MaxConcurrentGenerations</c> slots; either way the rest wait in FIFO order.
/// Cancellation (the HTTP request aborting) is checked before every step and also terminates a run in flight.
/// </summary>
public sealed class ChatEngine(ModelHost host, InferenceOptions options, Media.SafeMediaFetcher fetcher, Media.FfmpegDecoder decoder) : IDisposable
{
    /// <summary>A generation that reserved at least this much trims the C heap when it ends.</summary>
    private const long TrimAfterBytes = 32L << 20;

    private readonly SemaphoreSlim _slots = new(options.MaxConcurrentGenerations, options.MaxConcurrentGenerations);
    private readonly MemoryAdmission _memory = new(options.MemoryBudgetBytes);
    private int _active;
    private int _queued;
    private long _finished;
    private readonly DecodeBatchers _batchers = new(options.MaxDecodeBatch, options.DecodeBatchWaitMs, options.MaxDecodeBatchTokens);

    /// <summary>Decode loops running now (test hook and telemetry).</summary>
    internal int ActiveGenerations => Volatile.Read(ref _active);
    internal int QueuedGenerations => Volatile.Read(ref _queued);
    /// <summary>Decode loops that have ended, whatever the reason.</summary>
    internal long FinishedGenerations => Interlocked.Read(ref _finished);
    /// <summary>The memory budget shared by every generation in flight.</summary>
    public MemoryAdmission Memory => _memory;
    /// <summary>The batched decode loop of the loaded chat model <paramref name="modelId"/>; null where decode steps are not batched.</summary>
    internal DecodeBatcher? BatcherOf(string modelId) => host.Find(modelId)?.Chat is { } model ? _batchers.For(model) : null;

    public void Dispose() => _batchers.Dispose();

    /// <summary>
    /// What a generation reserves: its peak at its longest (prompt, reasoning markers and max_tokens), by the model's
    /// memory plan (or none: a model without one was never given a budget).
    /// </summary>
    public static long ReservedBytes(ChatGeneration g)
    {
        if (g.Model.MemoryPlan is not { } plan)
        {
            return 0;
        }
        var markers = g.ReasoningBudget > 0
            ? g.Model.Tokenizer.CountTokens(ReasoningBlock.Open) + g.Model.Tokenizer.CountTokens(ReasoningBlock.Close)
            : 0;
        return Math.Min(plan.RequestBytes(g.Prompt.Length, g.Prompt.Length + markers + g.MaxTokens), plan.BudgetBytes);
    }

    /// <summary>Checks the request against the model; throws <see cref="ChatRequestException"/> when it is refused.</summary>
    public ChatGeneration Prepare(InternalChatRequest request)
    {
        if (string.IsNullOrWhiteSpace(request.Model))
        {
            throw new ChatRequestException(400, "invalid_request", "'model' is required");
        }
        if (host.State == ModelHostState.Loading)
        {
            throw new ChatRequestException(503, "model_not_ready", "the worker is still loading its models");
        }
        if (host.State == ModelHostState.Failed)
        {
            throw new ChatRequestException(503, "model_not_ready", $"the worker failed to start: {host.FailureReason}");
        }
        var hosted = host.Find(request.Model) ?? throw new ChatRequestException(404, "model_not_found", $"model '{request.Model}' does not exist");
        if (hosted.Kind != ModelKind.Chat)
        {
            throw new ChatRequestException(400, "model_not_supported", $"model '{hosted.Id}' is not a chat model");
        }
        var model = hosted.Chat ?? throw new ChatRequestException(503, "model_not_ready", $"model '{hosted.Id}' is not loaded: {hosted.Reason}");

        var ids = request.PromptTokenIds;
        if (ids is null || ids.Length == 0)
        {
            throw new ChatRequestException(400, "invalid_request", "'prompt_token_ids' must be a non-empty array of token ids");
        }
        var prompt = new long[ids.Length];
        for (var i = 0; i < ids.Length; i++)
        {
            if ((uint)ids[i] >= (uint)model.VocabSize)
            {
                throw new ChatRequestException(400, "invalid_request",
                    $"prompt_token_ids[{i}] = {ids[i]} is not in the vocabulary (0 to {model.VocabSize - 1})");
            }
            prompt[i] = ids[i];
        }
        var budget = request.ReasoningBudget ?? 0;
        if (budget < 0 || budget > ChatLimits.MaxReasoningBudget)
        {
            throw new ChatRequestException(400, "invalid_request", $"'reasoning_budget' must be from 0 to {ChatLimits.MaxReasoningBudget}, not {budget}");
        }
        // The forced <think> / </think> tokens take room in the context (they are not billed).
        var overhead = budget > 0 ? model.Tokenizer.CountTokens(ReasoningBlock.Open) + model.Tokenizer.CountTokens(ReasoningBlock.Close) : 0;
        // The served window: the nominal one, or less where the memory budget cannot hold a generation that long.
        // Refused here, before anything is allocated.
        var window = model.ServedContextWindow;
        if ((long)ids.Length + overhead + 1 > window)
        {
            throw new ChatRequestException(400, ChatLimits.ContextLengthExceeded, ChatLimits.ContextLengthMessage(window, ids.Length + overhead, null));
        }
        if (request.MaxTokens is < 1)
        {
            throw new ChatRequestException(400, "invalid_request", $"'max_tokens' must be at least 1, not {request.MaxTokens}");
        }
        var maxTokens = request.MaxTokens ?? window - ids.Length - overhead;
        if ((long)ids.Length + maxTokens + overhead > window)
        {
            throw new ChatRequestException(400, ChatLimits.ContextLengthExceeded, ChatLimits.ContextLengthMessage(window, ids.Length + overhead, maxTokens));
        }
        var temperature = request.Temperature ?? model.Defaults.Temperature;
        if (!double.IsFinite(temperature) || temperature < 0 || temperature > 2)
        {
            throw new ChatRequestException(400, "invalid_request", $"'temperature' must be between 0 and 2, not {temperature}");
        }
        var topP = request.TopP ?? model.Defaults.TopP;
        if (!double.IsFinite(topP) || topP <= 0 || topP > 1)
        {
            throw new ChatRequestException(400, "invalid_request", $"'top_p' must be greater than 0 and at most 1, not {topP}");
        }
        var stop = request.Stop ?? [];
        if (stop.Count > ChatLimits.MaxStopStrings)
        {
            throw new ChatRequestException(400, "invalid_request", $"'stop' holds {stop.Count} strings; at most {ChatLimits.MaxStopStrings}");
        }
        if (stop.Any(string.IsNullOrEmpty))
        {
            throw new ChatRequestException(400, "invalid_request", "'stop' strings must be non-empty");
        }
        var seed = request.Seed is { } s ? unchecked((ulong)s) : BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8));
        var format = ResponseFormat(request.ResponseFormat);
        var tools = Tools(request);
        var images = request.Images ?? [];
        if (images.Count > 0)
        {
            if (!model.SupportsImages)
            {
                throw new ChatRequestException(400, "unsupported_content_type", $"model '{hosted.Id}' does not accept images");
            }
            if (images.Count > ChatLimits.MaxImages)
            {
                throw new ChatRequestException(400, "too_many_images", $"'images' holds {images.Count}; at most {ChatLimits.MaxImages}");
            }
        }
        var pads = ids.Count(id => id == model.ImageTokenId);
        if (pads != images.Count * model.TokensPerImage)
        {
            throw new ChatRequestException(400, "invalid_request",
                $"the prompt holds {pads} image pad tokens; {images.Count} image(s) need exactly {images.Count * model.TokensPerImage}");
        }
        return new ChatGeneration(hosted.Id, model, prompt, maxTokens, temperature, topP, seed, stop.ToArray(), request.IgnoreEos, format, budget, tools,
            images, hosted.Manifest?.Media ?? new MediaRules());
    }

    /// <summary>
    /// Fetches (SSRF rules, the model's size and time caps), decodes and encodes the request's images, all before the
    /// response starts, so a bad image is a 400 and nothing is generated. Throws <see cref="ChatRequestException"/>.
    /// </summary>
    public async Task<ChatGeneration> EncodeImagesAsync(ChatGeneration g, CancellationToken cancellationToken)
    {
        if (g.Images is not { Count: > 0 } images)
        {
            return g;
        }
        var media = g.Media ?? new MediaRules();
        using var activity = WorkerTelemetry.ActivitySource.StartActivity("chat.encode_images");
        activity?.SetTag("aurous.chat.images", images.Count);
        var pixels = await Task.WhenAll(images.Select(async (url, i) =>
        {
            try
            {
                var bytes = await fetcher.FetchAsync(url, media.MaxMediaBytes, TimeSpan.FromSeconds(media.FetchTimeoutSeconds), cancellationToken);
                return await g.Model.PreprocessImageAsync(bytes, decoder, cancellationToken);
            }
            catch (Media.MediaException ex)
            {
                throw new ChatRequestException(400, ex.Code, $"images[{i}]: {ex.Message}");
            }
            catch (Media.MediaDecoderUnavailableException ex)
            {
                throw new ChatRequestException(503, "media_decoder_unavailable", $"images[{i}]: {ex.Message}");
            }
        }));
        return g with { ImageFeatures = g.Model.EncodeImages(pixels, cancellationToken) };
    }

    /// <summary>The compiled <c>tools</c> and <c>tool_choice</c>: null when the model may not call any.</summary>
    private static ToolCalling? Tools(InternalChatRequest request)
    {
        var declared = request.Tools ?? [];
        if (declared.Count == 0)
        {
            if (request.ToolChoice is not null)
            {
                throw new ChatRequestException(400, "invalid_request", "'tool_choice' needs 'tools'");
            }
            return null;
        }
        if (declared.Count > ChatLimits.MaxTools)
        {
            throw new ChatRequestException(400, "invalid_request", $"'tools' holds {declared.Count} functions; at most {ChatLimits.MaxTools}");
        }
        var required = request.ToolChoice switch
        {
            null or "auto" => false,
            "required" => true,
            _ => throw new ChatRequestException(400, "invalid_request", "'tool_choice' must be \"auto\" or \"required\""),
        };
        var specs = new List<ToolSpec>(declared.Count);
        for (var i = 0; i < declared.Count; i++)
        {
            var name = declared[i].Name;
            if (string.IsNullOrEmpty(name) || name.Length > 64 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-'))
            {
                throw new ChatRequestException(400, "invalid_request", $"'tools[{i}].name' must be 1-64 characters of a-z, A-Z, 0-9, _ and -");
            }
            if (specs.Any(t => t.Name == name))
            {
                throw new ChatRequestException(400, "invalid_request", $"'tools' declares '{name}' twice");
            }
            var parameters = declared[i].Parameters is { ValueKind: not System.Text.Json.JsonValueKind.Null } schema
                ? JsonSchemaCompiler.Compile(schema, $"tools[{i}].function.parameters")
                : JsonSchemaCompiler.NoArguments;
            specs.Add(new ToolSpec(name, parameters));
        }
        return new ToolCalling(specs, required, request.ParallelToolCalls ?? true);
    }

    private static long[] Ids(int[] ids) => Array.ConvertAll(ids, i => (long)i);

    /// <summary>The compiled <c>response_format</c>: null for free text.</summary>
    private static SchemaNode? ResponseFormat(InternalResponseFormat? format)
    {
        switch (format?.Type)
        {
            case null when format is null:
            case "text":
                return null;
            case "json_object":
                return JsonSchemaCompiler.JsonObject;
            case "json_schema":
                if (format.Schema is not { ValueKind: System.Text.Json.JsonValueKind.Object } schema)
                {
                    throw new ChatRequestException(400, "invalid_request", "'response_format.schema' must be a JSON Schema object");
                }
                return JsonSchemaCompiler.Compile(schema);
            default:
                throw new ChatRequestException(400, "invalid_request", "'response_format.type' must be \"text\", \"json_object\" or \"json_schema\"");
        }
    }

    /// <summary>
    /// Waits for a slot, then generates: <see cref="ChatDelta"/>s (never empty) and one final <see cref="ChatDone"/>.
    /// <paramref name="receivedAt"/> (a <see cref="Stopwatch"/> timestamp) is when the request arrived: time to first
    /// token counts from it. Throws <see cref="OperationCanceledException"/> when <paramref name="cancellationToken"/> fires.
    /// </summary>
    /// <summary>
    /// Each decode step is synchronous compute. Going back to the thread pool between steps lets every other request
    /// (a new short one, an HTTP read) run between two steps of a long generation instead of waiting for a thread;
    /// without it a few long loops hold the pool's few threads and new requests queue behind them.
    /// </summary>
    private static YieldAwaitable YieldBetweenSteps() => Task.Yield();

    /// <summary>Feeds one sampled token: in the model's next batched decode run, or (batching off) in a run of its own.</summary>
    private static async ValueTask<float[]> DecodeStepAsync(DecodeBatcher? batcher, ChatModel model, DecoderState state, long id, CancellationToken cancellationToken)
    {
        if (batcher is not null)
        {
            return await batcher.StepAsync(state, id, cancellationToken);
        }
        await YieldBetweenSteps();
        return model.Forward(state, [id], cancellationToken);
    }

    /// <summary>Hidden reasoning reports its running token count this often, so a caller who hangs up can bill it.</summary>
    private const int ProgressEvery = 8;

    public async IAsyncEnumerable<ChatEvent> GenerateAsync(ChatGeneration g, long receivedAt, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var model = g.Model;
        var modelTag = new KeyValuePair<string, object?>("aurous.model.id", g.ModelId);
        var queuedAt = Stopwatch.GetTimestamp();
        Interlocked.Increment(ref _queued);
        WorkerTelemetry.ChatQueuedGenerations.Add(1, modelTag);
        // Memory first (FIFO, the generation's peak), then a decode slot: what runs together fits in the budget.
        var reservedBytes = ReservedBytes(g);
        IDisposable? reservation = null;
        try
        {
            reservation = reservedBytes > 0 ? await _memory.ReserveAsync(reservedBytes, cancellationToken) : null;
            await _slots.WaitAsync(cancellationToken);
        }
        catch
        {
            reservation?.Dispose();
            throw;
        }
        finally
        {
            Interlocked.Decrement(ref _queued);
            WorkerTelemetry.ChatQueuedGenerations.Add(-1, modelTag);
        }
        var queueWaitMs = Stopwatch.GetElapsedTime(queuedAt).TotalMilliseconds;
        WorkerTelemetry.ChatQueueWait.Record(queueWaitMs, modelTag);

        Interlocked.Increment(ref _active);
        WorkerTelemetry.ChatActiveGenerations.Add(1, modelTag);
        using var activity = WorkerTelemetry.ActivitySource.StartActivity("chat.generate");
        activity?.SetTag("aurous.model.id", g.ModelId);
        activity?.SetTag("gen_ai.request.max_tokens", g.MaxTokens);
        activity?.SetTag("gen_ai.request.temperature", g.Temperature);
        activity?.SetTag("gen_ai.request.top_p", g.TopP);
        activity?.SetTag("gen_ai.usage.input_tokens", g.Prompt.Length);
        activity?.SetTag("aurous.chat.prompt_tokens", g.Prompt.Length);
        activity?.SetTag("aurous.chat.queue_wait_ms", Math.Round(queueWaitMs, 3));
        activity?.SetTag("aurous.chat.memory_reserved_bytes", reservedBytes);
        var completion = 0;
        var reasoning = 0;
        long firstTokenAt = 0;
        var finish = "length";
        var ended = false;
        // A member of the model's batched decode loop from its first decode step until it ends.
        IDisposable? membership = null;
        try
        {
            using var state = model.NewState();
            var sampler = new TokenSampler(g.Temperature, g.TopP, g.Seed, model.VocabSize);
            var detokenizer = new StreamingDetokenizer(model.Tokenizer, g.Stop);
            var eos = model.Defaults.EosTokenIds;
            var pendingIds = new List<int>();
            // Constrained decoding: tool calls (whose plain answers follow the response_format, if any), or structured output.
            var toolCalls = g.Tools is { } calling ? new ToolCallConstraint(calling, g.Format) : null;
            IOutputConstraint? constraint = toolCalls is not null ? toolCalls : g.Format is { } format ? new JsonPrefixAutomaton(format) : null;
            var filter = constraint is null ? null : new ConstrainedTokenFilter(constraint, model.ConstrainedTexts, eos);
            // Auto tool choice: tokens held back while the answer may still become a tool call.
            var held = new List<int>();
            var batcher = g.DecodeAlone ? null : _batchers.For(model);

            var logits = g.ImageFeatures is { } features
                ? model.Forward(state, g.Prompt, features, cancellationToken)
                : model.Forward(state, g.Prompt, cancellationToken);
            if (g.ReasoningBudget > 0)
            {
                // Reasoning: prefill "<think>\n", sample up to the budget (max_tokens bounds reasoning + answer), never
                // streamed; stop early at "</think>" or end-of-sequence, then close the block if the model did not.
                logits = model.Forward(state, Ids(model.Tokenizer.Encode(ReasoningBlock.Open)), cancellationToken);
                var limit = Math.Min(g.ReasoningBudget, g.MaxTokens);
                var thought = new List<int>();
                var feed = new List<long>();
                var closed = false;
                while (reasoning < limit)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var id = sampler.Next(logits);
                    reasoning++;
                    completion++;
                    WorkerTelemetry.ChatCompletionTokens.Add(1, modelTag);
                    if (reasoning % ProgressEvery == 0)
                    {
                        yield return new ChatProgress(completion);
                    }
                    if (completion == 1)
                    {
                        firstTokenAt = Stopwatch.GetTimestamp();
                    }
                    if (!g.IgnoreEos && eos.Contains(id))
                    {
                        break; // the end-of-sequence token is not fed; the block is closed below
                    }
                    thought.Add(id);
                    if (model.ProducesText(id) && model.Tokenizer.Decode(thought.ToArray()).Contains(ReasoningBlock.End, StringComparison.Ordinal))
                    {
                        closed = true;
                        feed.Add(id);
                        break;
                    }
                    if (reasoning >= limit)
                    {
                        feed.Add(id);
                        break;
                    }
                    membership ??= batcher?.Join(state);
                    logits = await DecodeStepAsync(batcher, model, state, id, cancellationToken);
                }
                if (!closed)
                {
                    feed.AddRange(Ids(model.Tokenizer.Encode(ReasoningBlock.Close)));
                }
                logits = model.Forward(state, feed.ToArray(), cancellationToken);
                activity?.SetTag("aurous.chat.reasoning_tokens", reasoning);
            }
            while (completion < g.MaxTokens)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var id = filter is null ? sampler.Next(logits) : sampler.Next(logits, filter);
                completion++;
                WorkerTelemetry.ChatCompletionTokens.Add(1, modelTag);
                if (completion == 1)
                {
                    firstTokenAt = Stopwatch.GetTimestamp();
                }
                // A constrained sampler only picks end-of-sequence where the output may end.
                var endOfSequence = eos.Contains(id) && (filter is not null || !g.IgnoreEos);
                if (!endOfSequence)
                {
                    filter?.Advance(id);
                }
                if (toolCalls is { IsAnswer: false } && !(endOfSequence && toolCalls.IsUndecided))
                {
                    if (toolCalls.IsUndecided)
                    {
                        held.Add(id);
                    }
                    else
                    {
                        held.Clear(); // the "<tool_call>" tag itself
                        foreach (var fragment in toolCalls.Drain())
                        {
                            yield return new ChatToolCallDelta(fragment.Index, fragment.Name, fragment.Arguments, completion);
                        }
                    }
                    if (endOfSequence || toolCalls.IsComplete)
                    {
                        finish = "tool_calls";
                        break;
                    }
                }
                else
                {
                    // Text: what auto tool choice held back first (it turned out not to be a tool call), then this token.
                    var text = "";
                    if (!endOfSequence)
                    {
                        held.Add(id);
                    }
                    foreach (var next in held)
                    {
                        pendingIds.Add(next);
                        if (model.ProducesText(next))
                        {
                            text += detokenizer.Add(next);
                            if (detokenizer.Stopped)
                            {
                                break;
                            }
                        }
                    }
                    held.Clear();
                    if (text.Length > 0)
                    {
                        yield return new ChatDelta(text, pendingIds.ToArray(), completion);
                        pendingIds.Clear();
                    }
                    if (endOfSequence || detokenizer.Stopped)
                    {
                        finish = "stop";
                        break;
                    }
                    if (constraint is { IsComplete: true })
                    {
                        // The structured output is a whole document: nothing may follow it.
                        finish = "stop";
                        break;
                    }
                    if (constraint is { IsFree: true })
                    {
                        filter = null; // plain text from here on: sample without a mask
                    }
                }
                if (completion >= g.MaxTokens)
                {
                    finish = "length";
                    break;
                }
                membership ??= batcher?.Join(state);
                logits = await DecodeStepAsync(batcher, model, state, id, cancellationToken);
            }
            membership?.Dispose();
            var rest = detokenizer.Flush();
            if (rest.Length > 0)
            {
                yield return new ChatDelta(rest, pendingIds.ToArray(), completion);
            }
            if (detokenizer.Stopped)
            {
                finish = "stop";
            }
            ended = true;
            var ttft = Stopwatch.GetElapsedTime(receivedAt, firstTokenAt).TotalMilliseconds;
            activity?.SetTag("aurous.chat.time_to_first_token_ms", Math.Round(ttft, 3));
            activity?.SetTag("gen_ai.response.finish_reasons", finish);
            WorkerTelemetry.ChatTimeToFirstToken.Record(ttft, modelTag);
            yield return new ChatDone(finish, g.Prompt.Length, completion, Math.Round(ttft, 3), reasoning);
        }
        finally
        {
            membership?.Dispose();
            activity?.SetTag("gen_ai.usage.output_tokens", completion);
            activity?.SetTag("aurous.chat.completion_tokens", completion);
            if (!ended)
            {
                activity?.SetTag("aurous.chat.outcome", cancellationToken.IsCancellationRequested ? "cancelled" : "failed");
                if (!cancellationToken.IsCancellationRequested)
                {
                    activity?.SetStatus(ActivityStatusCode.Error);
                }
            }
            if (completion > 1 && firstTokenAt != 0)
            {
                var seconds = Stopwatch.GetElapsedTime(firstTokenAt).TotalSeconds;
                if (seconds > 0)
                {
                    var rate = (completion - 1) / seconds;
                    activity?.SetTag("aurous.chat.tokens_per_second", Math.Round(rate, 1));
                    WorkerTelemetry.ChatTokensPerSecond.Record(rate, modelTag);
                }
            }
            Interlocked.Decrement(ref _active);
            Interlocked.Increment(ref _finished);
            WorkerTelemetry.ChatActiveGenerations.Add(-1, modelTag);
            _slots.Release();
            reservation?.Dispose();
            if (reservedBytes >= TrimAfterBytes)
            {
                // The KV cache and the prefill's tensors are freed by now (the state was disposed): hand the heap's
                // free pages back, so a long prompt does not leave the worker at its peak.
                NativeHeap.Trim();
            }
        }
    }
}
