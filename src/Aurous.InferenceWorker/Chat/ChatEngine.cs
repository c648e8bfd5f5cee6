using System.Diagnostics;
using System.Runtime.CompilerServices;
using Aurous.Inference.Contracts;
using Aurous.InferenceWorker.Models;

namespace Aurous.InferenceWorker.Chat;

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
public sealed partial class ChatEngine(ModelHost host, InferenceOptions options, Media.SafeMediaFetcher fetcher, Media.FfmpegDecoder decoder) : IDisposable
{
    /// <summary>A generation that reserved at least this much has its large blocks mapped on their own while it runs, and
    /// trims the C heap when it ends (as does the last active one; see <see cref="NativeHeap"/>).</summary>
    private const long LargeGenerationBytes = 32L << 20;

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
        var markers = ReasoningMarkerTokens(g.Model, g.ReasoningBudget);
        return Math.Min(plan.RequestBytes(g.Prompt.Length, g.Prompt.Length + markers + g.MaxTokens), plan.BudgetBytes);
    }

    /// <summary>The forced <c>&lt;think&gt;</c> / <c>&lt;/think&gt;</c> tokens, which take room in the context (they are not billed).</summary>
    private static int ReasoningMarkerTokens(ChatModel model, int reasoningBudget) =>
        reasoningBudget > 0 ? model.Tokenizer.CountTokens(ReasoningBlock.Open) + model.Tokenizer.CountTokens(ReasoningBlock.Close) : 0;

    private static long[] Ids(int[] ids) => Array.ConvertAll(ids, i => (long)i);

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

    /// <summary>
    /// Waits for a slot, then generates: <see cref="ChatDelta"/>s (never empty) and one final <see cref="ChatDone"/>.
    /// <paramref name="receivedAt"/> (a <see cref="Stopwatch"/> timestamp) is when the request arrived: time to first
    /// token counts from it. Throws <see cref="OperationCanceledException"/> when <paramref name="cancellationToken"/> fires.
    /// </summary>
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
        var largeBlocks = reservedBytes >= LargeGenerationBytes ? NativeHeap.MapLargeBlocks() : null;
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
            var stillActive = Interlocked.Decrement(ref _active);
            Interlocked.Increment(ref _finished);
            WorkerTelemetry.ChatActiveGenerations.Add(-1, modelTag);
            _slots.Release();
            reservation?.Dispose();
            largeBlocks?.Dispose();
            if (reservedBytes >= LargeGenerationBytes || stillActive == 0)
            {
                // The KV cache and the prefill's tensors are freed by now (the state was disposed): hand the heap's
                // free pages back, so a long prompt does not leave the worker at its peak, nor an idle worker at what
                // its last burst of generations held (see NativeHeap).
                NativeHeap.Trim();
            }
        }
    }
}
