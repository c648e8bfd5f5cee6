namespace Aurous.InferenceWorker.Chat;

/// <summary>
/// What one generation of a chat model costs in memory, worked out from the model's dimensions, and the longest
/// sequence a memory budget can hold (the context window the worker actually serves).
/// <para>
/// A run of the decoder over <c>rows</c> new tokens with <c>total</c> positions in the cache holds, at its peak:
/// the KV cache twice (the <c>past_key_values</c> fed in and the <c>present</c> the run writes, which is their
/// concatenation), one layer's keys and values again (transposed, or repeated to every attention head by grouped-query
/// exports), the attention scores of one layer (<c>rows x total x heads</c> floats, <see cref="ScoreCopies"/> of them
/// alive at once: raw, scaled, masked, softmaxed), the logits of every row (and their pre-bias copy), the hidden
/// activations, and on the managed side the attention mask and the last row of logits. The prefill runs at most
/// <see cref="PrefillChunkTokens"/> rows at a time, so the scores grow with <c>chunk x prompt</c>, not
/// <c>prompt x prompt</c>; decode steps run one row against the whole length. A generation's peak grows linearly with
/// its length.
/// </para>
/// </summary>
public sealed class ChatMemoryPlan
{
    private const long FloatBytes = sizeof(float);
    /// <summary>Score-sized tensors that may be alive at once in one attention layer.</summary>
    public const int ScoreCopies = 4;
    /// <summary>Hidden-width activations per row (norms, projections, residuals, the MLP's wider ones counted as several).</summary>
    private const int ActivationWidths = 32;
    /// <summary>Most tokens a run after the prefill feeds at once (one per decode step; the reasoning markers).</summary>
    private const int FedRows = 8;
    /// <summary>Per generation, whatever does not grow with its length (tensor headers, sampler state, buffers).</summary>
    private const long FixedBytes = 1L << 20;

    public ChatMemoryPlan(int layers, int kvHeads, int heads, int headDim, int hiddenSize, int logitsWidth, int contextWindow,
        int prefillChunkTokens, long budgetBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(layers);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(kvHeads);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(heads);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(headDim);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(logitsWidth);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(contextWindow);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(prefillChunkTokens);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(budgetBytes);
        Layers = layers;
        KvHeads = kvHeads;
        Heads = heads;
        HeadDim = headDim;
        HiddenSize = Math.Max(hiddenSize, heads * headDim);
        LogitsWidth = logitsWidth;
        ContextWindow = contextWindow;
        PrefillChunkTokens = prefillChunkTokens;
        BudgetBytes = budgetBytes;
        KvBytesPerToken = 2L * layers * kvHeads * headDim * FloatBytes;
        ServedContextWindow = LongestWithin(budgetBytes);
    }

    public int Layers { get; }
    public int KvHeads { get; }
    public int Heads { get; }
    public int HeadDim { get; }
    public int HiddenSize { get; }
    public int LogitsWidth { get; }
    /// <summary>The model's nominal context window (its manifest's).</summary>
    public int ContextWindow { get; }
    /// <summary>Most prompt tokens in one run of the decoder.</summary>
    public int PrefillChunkTokens { get; }
    /// <summary>Memory all generations in flight may use together.</summary>
    public long BudgetBytes { get; }
    /// <summary>Bytes of KV cache per position (keys and values of every layer).</summary>
    public long KvBytesPerToken { get; }
    /// <summary>
    /// The longest sequence (prompt + completion, in tokens) one generation may have: the nominal context window, or
    /// less where a generation that long would not fit in the whole budget; 0 when not even one token fits.
    /// </summary>
    public int ServedContextWindow { get; }

    /// <summary>
    /// The peak memory of a generation with <paramref name="promptTokens"/> prompt tokens and
    /// <paramref name="totalTokens"/> positions at its end (prompt + everything generated or fed after it).
    /// </summary>
    public long RequestBytes(int promptTokens, int totalTokens)
    {
        var prompt = (long)Math.Max(promptTokens, 1);
        var total = Math.Max(totalTokens, prompt);
        // Prefill runs have at most a chunk of rows against at most the prompt; later runs (decode steps, the few tokens
        // fed around hidden reasoning) at most FedRows rows against the whole length.
        var rows = Math.Max(Math.Min(prompt, PrefillChunkTokens), FedRows);
        var scoreCells = Math.Max(Math.Min(prompt, PrefillChunkTokens) * prompt, FedRows * total);
        var cache = 2 * KvBytesPerToken * total;
        var layer = 2L * Heads * HeadDim * FloatBytes * total;
        var scores = scoreCells * (ScoreCopies * Heads * FloatBytes + 2);
        var logits = 2 * rows * LogitsWidth * FloatBytes;
        var activations = rows * ActivationWidths * HiddenSize * FloatBytes;
        var managed = 2 * total * sizeof(long) + 2 * LogitsWidth * FloatBytes;
        return cache + layer + scores + logits + activations + managed + FixedBytes;
    }

    /// <summary>The largest total length whose peak (prompt as long as the total) fits in <paramref name="bytes"/>.</summary>
    private int LongestWithin(long bytes)
    {
        if (RequestBytes(1, 1) > bytes)
        {
            return 0;
        }
        int low = 1, high = ContextWindow;
        while (low < high)
        {
            var mid = low + (high - low + 1) / 2;
            if (RequestBytes(mid, mid) <= bytes)
            {
                low = mid;
            }
            else
            {
                high = mid - 1;
            }
        }
        return low;
    }
}
