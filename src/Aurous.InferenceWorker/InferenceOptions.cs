using Microsoft.Extensions.Options;

namespace Aurous.InferenceWorker;

/// <summary>
/// How the worker runs its models (<c>Inference:*</c>; environment <c>Inference__ExecutionProvider</c>...), plus where
/// they are (<c>Models:Path</c>). Checked at start-up by <see cref="InferenceOptionsValidator"/>.
/// </summary>
public sealed record InferenceOptions
{
    public const string Section = "Inference";

    /// <summary>The models folder (<c>Models:Path</c>, default empty: the repository's <c>models/</c> found above the working directory).</summary>
    public string? ModelsPath { get; set; }
    /// <summary>Execution provider (<c>Inference:ExecutionProvider</c>, default <c>auto</c>; <c>auto</c>, <c>cpu</c> or <c>cuda</c>).</summary>
    public RequestedProvider ExecutionProvider { get; set; } = RequestedProvider.Auto;
    /// <summary>CUDA device the sessions run on (<c>Inference:CudaDeviceId</c>, default 0).</summary>
    public int CudaDeviceId { get; set; }
    /// <summary>Most items (text sequences, image frames) in one ONNX Runtime run (<c>Inference:MaxBatchSize</c>, default 32; 1 disables batching).</summary>
    public int MaxBatchSize { get; set; } = 32;
    /// <summary>Longest a batch waits for more items after its first (<c>Inference:MaxBatchWaitMs</c>, default 0: only what is already queued).
    /// 0 by default: runs are serial per model, so under load the items that arrive during one run form the next batch
    /// anyway, and at low load no request pays a wait for company that is not coming.</summary>
    public double MaxBatchWaitMs { get; set; }
    /// <summary>Cap on batch x padded sequence length of one text run (<c>Inference:MaxBatchTokens</c>, default 16384); a longer sequence runs alone.</summary>
    public int MaxBatchTokens { get; set; } = 16_384;
    /// <summary>Threads one ONNX Runtime run may use (<c>Inference:IntraOpThreads</c>, default 1; 0: ONNX Runtime's default of one per core).
    /// One by default: concurrency comes from batching and from several runs in flight, and the worker shares its cores.</summary>
    public int IntraOpThreads { get; set; } = 1;
    /// <summary>Threads of a chat model's batched decode step (<c>Inference:DecodeIntraOpThreads</c>, default 0: ONNX
    /// Runtime's default of one per core). On the CPU provider, a value other than <see cref="IntraOpThreads"/> (with
    /// batching on) gives the decoder a second session for those steps, which holds a second copy of its weights. One
    /// per core by default: the batched step is the one run every decoding generation waits for, and on a quiet
    /// two-core machine it measured 13-29 % more tokens/s with both cores than with one (docs/chat.md).</summary>
    public int DecodeIntraOpThreads { get; set; }
    /// <summary>Whether idle ONNX Runtime threads spin (<c>Inference:AllowSpinning</c>, default false). Off by default: spinning burns the
    /// cores the API, Postgres and the media decoder need, for microseconds of latency only a dedicated machine benefits from.</summary>
    public bool AllowSpinning { get; set; }
    /// <summary>Chat generations decoding at once (<c>Inference:MaxConcurrentGenerations</c>, default 32); the rest wait in
    /// FIFO order for a slot, and the wait is measured (<c>aurous.chat.queue_wait</c>). Generous on purpose: a request
    /// that waits for a slot waits for a whole long generation to end, while one more loop only shares the cores a
    /// little more thinly. Lower it where each generation's KV cache costs real GPU memory.</summary>
    public int MaxConcurrentGenerations { get; set; } = 32;
    /// <summary>Memory (MiB) that all chat generations in flight may use together: their KV caches and the prefill's
    /// working memory (<c>Inference:MemoryBudgetMb</c>, default 2048, at least 16). Each generation reserves its peak
    /// before it runs and waits (FIFO) while the rest is reserved; one that could not fit in the whole budget is refused
    /// with 400 <c>context_length_exceeded</c>, and the context window a model is served with
    /// (<c>served_context_window</c>) is the longest that fits.</summary>
    public int MemoryBudgetMb { get; set; } = 2048;
    /// <summary>Most prompt tokens the decoder runs at once (<c>Inference:PrefillChunkTokens</c>, default 256, 1 to 8192):
    /// a longer prompt is fed in chunks, so the attention scores of one run are chunk x length, not length x length.</summary>
    public int PrefillChunkTokens { get; set; } = 256;
    /// <summary>Most generations one batched decode step runs together (<c>Inference:MaxDecodeBatch</c>, default 32; 1 turns
    /// batching off: each generation then runs its own decoder run per token). See docs/chat.md.</summary>
    public int MaxDecodeBatch { get; set; } = 32;
    /// <summary>Longest a batched decode step waits, after the first generation queued its token, for the other decoding
    /// generations to queue theirs (<c>Inference:DecodeBatchWaitMs</c>, default 2, 0 to 100): a generation held up by a
    /// slow client delays the rest by at most this much per step.</summary>
    public double DecodeBatchWaitMs { get; set; } = 2;
    /// <summary>Cap on batch x longest cache (positions) of one batched decode step (<c>Inference:MaxDecodeBatchTokens</c>,
    /// default 32768): each cache is padded to the longest for the run, so a generation much longer than the rest steps alone.</summary>
    public int MaxDecodeBatchTokens { get; set; } = 32_768;

    /// <summary><see cref="MemoryBudgetMb"/> in bytes.</summary>
    public long MemoryBudgetBytes => MemoryBudgetMb * 1024L * 1024L;

    /// <summary>Reads an <c>Inference:ExecutionProvider</c> value (see <see cref="RequestedProviderConverter"/>).</summary>
    public static RequestedProvider ParseProvider(string? value) => RequestedProviderConverter.Parse(value);
}

/// <summary>The ranges <see cref="InferenceOptions"/> accept; a value outside them stops the worker at start-up.</summary>
public sealed class InferenceOptionsValidator : IValidateOptions<InferenceOptions>
{
    public ValidateOptionsResult Validate(string? name, InferenceOptions options)
    {
        var check = new OptionsCheck();
        check.That(options.MaxBatchSize > 0, Positive("MaxBatchSize", options.MaxBatchSize));
        check.That(options.MaxBatchWaitMs >= 0, "Inference:MaxBatchWaitMs must be 0 or more.");
        check.That(options.MaxBatchTokens > 0, Positive("MaxBatchTokens", options.MaxBatchTokens));
        check.That(options.IntraOpThreads >= 0, "Inference:IntraOpThreads must be 0 or more.");
        check.That(options.DecodeIntraOpThreads >= 0, "Inference:DecodeIntraOpThreads must be 0 or more.");
        check.That(options.MaxConcurrentGenerations > 0, Positive("MaxConcurrentGenerations", options.MaxConcurrentGenerations));
        check.That(options.MemoryBudgetMb >= 16, $"Inference:MemoryBudgetMb must be at least 16 (MiB), not {options.MemoryBudgetMb}.");
        check.That(options.PrefillChunkTokens is >= 1 and <= 8192, $"Inference:PrefillChunkTokens must be from 1 to 8192, not {options.PrefillChunkTokens}.");
        check.That(options.MaxDecodeBatch > 0, Positive("MaxDecodeBatch", options.MaxDecodeBatch));
        check.That(options.MaxDecodeBatchTokens > 0, Positive("MaxDecodeBatchTokens", options.MaxDecodeBatchTokens));
        check.That(options.DecodeBatchWaitMs is >= 0 and <= 100, $"Inference:DecodeBatchWaitMs must be from 0 to 100, not {options.DecodeBatchWaitMs}.");
        return check.Result;
    }

    private static string Positive(string key, int value) => $"Inference:{key} must be a positive number, not {value}.";
}
