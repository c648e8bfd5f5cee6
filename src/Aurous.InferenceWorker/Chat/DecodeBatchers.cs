namespace Aurous.InferenceWorker.Chat;

/// <summary>One <see cref="DecodeBatcher"/> per chat model (sequences of different models cannot share a run), made on first use.</summary>
internal sealed class DecodeBatchers(int maxBatch, double waitMs, int maxTokens) : IDisposable
{
    private readonly Dictionary<ChatModel, DecodeBatcher> _byModel = new(ReferenceEqualityComparer.Instance);
    private bool _disposed;

    /// <summary>The batcher of <paramref name="model"/>; null when batching is off (<c>Inference:MaxDecodeBatch</c> 1).</summary>
    public DecodeBatcher? For(ChatModel model)
    {
        if (maxBatch <= 1)
        {
            return null;
        }
        lock (_byModel)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_byModel.TryGetValue(model, out var batcher))
            {
                batcher = new DecodeBatcher(model, maxBatch, waitMs, maxTokens);
                _byModel.Add(model, batcher);
            }
            return batcher;
        }
    }

    public void Dispose()
    {
        DecodeBatcher[] batchers;
        lock (_byModel)
        {
            _disposed = true;
            batchers = [.. _byModel.Values];
            _byModel.Clear();
        }
        foreach (var batcher in batchers)
        {
            batcher.Dispose();
        }
    }
}
