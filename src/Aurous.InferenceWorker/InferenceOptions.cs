using Microsoft.Extensions.Configuration;

namespace Aurous.InferenceWorker;

/// <summary>Which ONNX Runtime execution provider the operator asked for (<c>Inference:ExecutionProvider</c>).</summary>
public enum RequestedProvider
{
    /// <summary>CUDA when this ONNX Runtime build and the machine have it, CPU otherwise.</summary>
    Auto,
    Cpu,
    /// <summary>CUDA or nothing: the worker reports itself unhealthy rather than silently running on CPU.</summary>
    Cuda,
}

/// <summary>The worker's settings, read from configuration (environment: <c>Models__Path</c>, <c>Inference__ExecutionProvider</c>...).</summary>
public sealed record InferenceOptions
{
    /// <summary>The models folder; null or empty: the repository's <c>models/</c> found above the working directory.</summary>
    public string? ModelsPath { get; init; }
    public RequestedProvider ExecutionProvider { get; init; } = RequestedProvider.Auto;
    public int CudaDeviceId { get; init; }
    /// <summary>Most items (text sequences, image frames) in one ONNX Runtime run (<c>Inference:MaxBatchSize</c>; 1 disables batching).</summary>
    public int MaxBatchSize { get; init; } = 32;
    /// <summary>Longest a batch waits for more items after its first (<c>Inference:MaxBatchWaitMs</c>; 0: only what is already queued).
    /// 0 by default: runs are serial per model, so under load the items that arrive during one run form the next batch
    /// anyway, and at low load no request pays a wait for company that is not coming.</summary>
    public double MaxBatchWaitMs { get; init; }
    /// <summary>Cap on batch x padded sequence length of one text run (<c>Inference:MaxBatchTokens</c>); a longer sequence runs alone.</summary>
    public int MaxBatchTokens { get; init; } = 16_384;
    /// <summary>Threads one ONNX Runtime run may use (<c>Inference:IntraOpThreads</c>; 0: ONNX Runtime's default of one per core).
    /// One by default: concurrency comes from batching and from several runs in flight, and the worker shares its cores.</summary>
    public int IntraOpThreads { get; init; } = 1;
    /// <summary>Whether idle ONNX Runtime threads spin (<c>Inference:AllowSpinning</c>). Off by default: spinning burns the
    /// cores the API, Postgres and the media decoder need, for microseconds of latency only a dedicated machine benefits from.</summary>
    public bool AllowSpinning { get; init; }
    /// <summary>Chat generations decoding at once (<c>Inference:MaxConcurrentGenerations</c>, default 32); the rest wait in
    /// FIFO order for a slot, and the wait is measured (<c>aurous.chat.queue_wait</c>). Generous on purpose: a request
    /// that waits for a slot waits for a whole long generation to end, while one more loop only shares the cores a
    /// little more thinly. Lower it where each generation's KV cache costs real GPU memory.</summary>
    public int MaxConcurrentGenerations { get; init; } = 32;
    /// <summary>Memory (MiB) that all chat generations in flight may use together: their KV caches and the prefill's
    /// working memory (<c>Inference:MemoryBudgetMb</c>, default 2048, at least 16). Each generation reserves its peak
    /// before it runs and waits (FIFO) while the rest is reserved; one that could not fit in the whole budget is refused
    /// with 400 <c>context_length_exceeded</c>, and the context window a model is served with
    /// (<c>served_context_window</c>) is the longest that fits.</summary>
    public int MemoryBudgetMb { get; init; } = 2048;
    /// <summary>Most prompt tokens the decoder runs at once (<c>Inference:PrefillChunkTokens</c>, default 256, 1 to 8192):
    /// a longer prompt is fed in chunks, so the attention scores of one run are chunk x length, not length x length.</summary>
    public int PrefillChunkTokens { get; init; } = 256;
    /// <summary>Most generations one batched decode step runs together (<c>Inference:MaxDecodeBatch</c>, default 32; 1 turns
    /// batching off: each generation then runs its own decoder run per token). See docs/chat.md.</summary>
    public int MaxDecodeBatch { get; init; } = 32;
    /// <summary>Longest a batched decode step waits, after the first generation queued its token, for the other decoding
    /// generations to queue theirs (<c>Inference:DecodeBatchWaitMs</c>, default 2, 0 to 100): a generation held up by a
    /// slow client delays the rest by at most this much per step.</summary>
    public double DecodeBatchWaitMs { get; init; } = 2;
    /// <summary>Cap on batch x longest cache (positions) of one batched decode step (<c>Inference:MaxDecodeBatchTokens</c>,
    /// default 32768): each cache is padded to the longest for the run, so a generation much longer than the rest steps alone.</summary>
    public int MaxDecodeBatchTokens { get; init; } = 32_768;

    /// <summary><see cref="MemoryBudgetMb"/> in bytes.</summary>
    public long MemoryBudgetBytes => MemoryBudgetMb * 1024L * 1024L;

    public static InferenceOptions FromConfiguration(IConfiguration configuration)
    {
        var provider = configuration["Inference:ExecutionProvider"];
        return new InferenceOptions
        {
            ModelsPath = configuration["Models:Path"],
            ExecutionProvider = ParseProvider(provider),
            CudaDeviceId = configuration.GetValue("Inference:CudaDeviceId", 0),
            MaxBatchSize = Positive(configuration.GetValue("Inference:MaxBatchSize", 32), "Inference:MaxBatchSize"),
            MaxBatchWaitMs = configuration.GetValue("Inference:MaxBatchWaitMs", 0.0) is var wait && wait >= 0
                ? wait
                : throw new InvalidOperationException("Inference:MaxBatchWaitMs must be 0 or more."),
            MaxBatchTokens = Positive(configuration.GetValue("Inference:MaxBatchTokens", 16_384), "Inference:MaxBatchTokens"),
            IntraOpThreads = configuration.GetValue("Inference:IntraOpThreads", 1) is var threads && threads >= 0
                ? threads
                : throw new InvalidOperationException("Inference:IntraOpThreads must be 0 or more."),
            AllowSpinning = configuration.GetValue("Inference:AllowSpinning", false),
            MaxConcurrentGenerations = Positive(configuration.GetValue("Inference:MaxConcurrentGenerations", 32), "Inference:MaxConcurrentGenerations"),
            MemoryBudgetMb = configuration.GetValue("Inference:MemoryBudgetMb", 2048) is var budget && budget >= 16
                ? budget
                : throw new InvalidOperationException($"Inference:MemoryBudgetMb must be at least 16 (MiB), not {budget}."),
            PrefillChunkTokens = configuration.GetValue("Inference:PrefillChunkTokens", 256) is var chunk && chunk is >= 1 and <= 8192
                ? chunk
                : throw new InvalidOperationException($"Inference:PrefillChunkTokens must be from 1 to 8192, not {chunk}."),
            MaxDecodeBatch = Positive(configuration.GetValue("Inference:MaxDecodeBatch", 32), "Inference:MaxDecodeBatch"),
            MaxDecodeBatchTokens = Positive(configuration.GetValue("Inference:MaxDecodeBatchTokens", 32_768), "Inference:MaxDecodeBatchTokens"),
            DecodeBatchWaitMs = configuration.GetValue("Inference:DecodeBatchWaitMs", 2.0) is var decodeWait && decodeWait is >= 0 and <= 100
                ? decodeWait
                : throw new InvalidOperationException($"Inference:DecodeBatchWaitMs must be from 0 to 100, not {decodeWait}."),
        };
    }

    private static int Positive(int value, string key) =>
        value > 0 ? value : throw new InvalidOperationException($"{key} must be a positive number, not {value}.");

    public static RequestedProvider ParseProvider(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        null or "" or "auto" => RequestedProvider.Auto,
        "cpu" => RequestedProvider.Cpu,
        "cuda" or "gpu" => RequestedProvider.Cuda,
        _ => throw new InvalidOperationException(
            $"Inference:ExecutionProvider must be 'auto', 'cpu' or 'cuda', not '{value}'."),
    };
}
