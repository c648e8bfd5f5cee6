using System.Buffers;

namespace Aurous.Tokenizers;

/// <summary>Collects ids into a pooled buffer, or only counts them when created with capacity 0.</summary>
internal struct IdSink : IDisposable
{
    private int[]? _buffer;

    public IdSink(int capacity) => _buffer = capacity > 0 ? ArrayPool<int>.Shared.Rent(capacity) : null;

    public int Count { get; private set; }

    public void Add(int id)
    {
        if (_buffer is not null)
        {
            Ensure(Count + 1);
            _buffer[Count] = id;
        }
        Count++;
    }

    public void AddRange(ReadOnlySpan<int> ids)
    {
        if (_buffer is not null)
        {
            Ensure(Count + ids.Length);
            ids.CopyTo(_buffer.AsSpan(Count));
        }
        Count += ids.Length;
    }

    private void Ensure(int needed)
    {
        if (needed <= _buffer!.Length)
        {
            return;
        }
        var bigger = ArrayPool<int>.Shared.Rent(Math.Max(needed, _buffer.Length * 2));
        _buffer.AsSpan(0, Count).CopyTo(bigger);
        ArrayPool<int>.Shared.Return(_buffer);
        _buffer = bigger;
    }

    public readonly int[] ToArray() => _buffer is null ? [] : _buffer.AsSpan(0, Count).ToArray();

    public void Dispose()
    {
        if (_buffer is not null)
        {
            ArrayPool<int>.Shared.Return(_buffer);
            _buffer = null;
        }
    }
}
