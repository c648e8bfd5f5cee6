using Microsoft.ML.OnnxRuntime;

namespace Aurous.InferenceWorker.Chat;

/// <summary>
/// One generation's KV cache: <c>past_key_values.*</c> for its next run, in input order (layer 0 key, layer 0 value,
/// layer 1 key, ...), each [1, kv_heads, <see cref="Length"/>, head_dim]: the <c>present.*</c> outputs of its own last
/// run, or its rows cut out of a batched decode step's outputs.
/// </summary>
public sealed class DecoderState : IDisposable
{
    private IDisposable? _owner;
    private IReadOnlyList<OrtValue>? _caches;
    private int _offset;
    private float[]? _logits;

    /// <summary>Positions in the cache (prompt + generated tokens fed so far).</summary>
    public int Length { get; private set; }
    internal bool Disposed { get; private set; }

    /// <summary>
    /// The buffer a batched decode step writes this state's logits to, reused from step to step (a row of the
    /// vocabulary is too large to allocate per token): its contents hold until this state's next batched step.
    /// </summary>
    internal float[] LogitsBuffer(int width) => _logits is { Length: var length } && length == width ? _logits : _logits = new float[width];

    /// <summary>The cache fed as the <paramref name="index"/>-th past input; null while the cache is empty.</summary>
    internal OrtValue? Past(int index) => _caches?[_offset + index];

    /// <summary>Takes a run's outputs (logits first, then the <c>present.*</c> values) as the cache.</summary>
    internal void Replace(IDisposableReadOnlyCollection<OrtValue> results, int length) => Replace(results, results, 1, length);

    /// <summary>Takes caches built for this state alone (one per past input) as the cache.</summary>
    internal void Replace(OrtValue[] caches, int length) => Replace(new OwnedValues(caches), caches, 0, length);

    private void Replace(IDisposable owner, IReadOnlyList<OrtValue> caches, int offset, int length)
    {
        _owner?.Dispose();
        _owner = owner;
        _caches = caches;
        _offset = offset;
        Length = length;
    }

    public void Dispose()
    {
        Disposed = true;
        _owner?.Dispose();
        _owner = null;
        _caches = null;
    }

    private sealed class OwnedValues(OrtValue[] values) : IDisposable
    {
        public void Dispose()
        {
            foreach (var value in values)
            {
                value.Dispose();
            }
        }
    }
}
