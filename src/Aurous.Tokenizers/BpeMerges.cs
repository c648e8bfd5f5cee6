using System.Buffers;
using System.Text;

namespace Aurous.Tokenizers;

/// <summary>
/// The merge table of a byte-level BPE vocabulary and the merging itself: a word's UTF-8 bytes become byte-level ids,
/// then merges apply on those ids with a heap (n log n even for a pathological 1 MB "word").
/// </summary>
internal sealed class BpeMerges
{
    private readonly Dictionary<long, Merge> _merges;
    private readonly int[] _byteToId;

    private readonly record struct Merge(int Rank, int Id);

    public BpeMerges(Dictionary<string, int> vocab, IReadOnlyList<(string Left, string Right)> merges)
    {
        _byteToId = new int[256];
        for (var b = 0; b < 256; b++)
        {
            if (!vocab.TryGetValue(ByteLevel.ByteToChar[b].ToString(), out _byteToId[b]))
            {
                throw new InvalidDataException(
                    $"tokenizer.json: the vocabulary lacks the byte-level symbol for byte 0x{b:X2}; only byte-level BPE vocabularies are supported.");
            }
        }

        _merges = new Dictionary<long, Merge>(merges.Count);
        for (var rank = 0; rank < merges.Count; rank++)
        {
            var (left, right) = merges[rank];
            if (vocab.TryGetValue(left, out var leftId) && vocab.TryGetValue(right, out var rightId)
                && vocab.TryGetValue(string.Concat(left, right), out var mergedId))
            {
                _merges.TryAdd(PairKey(leftId, rightId), new Merge(rank, mergedId));
            }
        }
    }

    /// <summary>UTF-8 bytes of the word as byte-level ids, then merges applied lowest rank first (leftmost on ties).</summary>
    public int[] Encode(ReadOnlySpan<char> word)
    {
        var byteCount = Encoding.UTF8.GetByteCount(word);
        var rented = byteCount > 256 ? ArrayPool<byte>.Shared.Rent(byteCount) : null;
        Span<byte> bytes = rented ?? stackalloc byte[256];
        bytes = bytes[..Encoding.UTF8.GetBytes(word, bytes)];
        try
        {
            var n = bytes.Length;
            if (n == 1)
            {
                return [_byteToId[bytes[0]]];
            }
            var symbols = new int[n];
            var prev = new int[n];
            var next = new int[n];
            for (var k = 0; k < n; k++)
            {
                symbols[k] = _byteToId[bytes[k]];
                prev[k] = k - 1;
                next[k] = k + 1 < n ? k + 1 : -1;
            }

            // Candidate pairs keyed by (rank, left position); stale entries are skipped when popped.
            var queue = new PriorityQueue<(int Left, int LeftId, int RightId), (int Rank, int Left)>(n);
            for (var k = 0; k + 1 < n; k++)
            {
                Enqueue(queue, k, symbols[k], symbols[k + 1]);
            }
            var remaining = n;
            while (queue.TryDequeue(out var candidate, out _))
            {
                var left = candidate.Left;
                var right = next[left];
                if (symbols[left] != candidate.LeftId || right < 0 || symbols[right] != candidate.RightId)
                {
                    continue; // one side was merged away since this pair was queued
                }
                var merged = _merges[PairKey(candidate.LeftId, candidate.RightId)].Id;
                symbols[left] = merged;
                symbols[right] = -1;
                next[left] = next[right];
                if (next[right] >= 0)
                {
                    prev[next[right]] = left;
                }
                remaining--;
                if (prev[left] >= 0)
                {
                    Enqueue(queue, prev[left], symbols[prev[left]], merged);
                }
                if (next[left] >= 0)
                {
                    Enqueue(queue, left, merged, symbols[next[left]]);
                }
            }

            var result = new int[remaining];
            var r = 0;
            for (var k = 0; k >= 0; k = next[k])
            {
                result[r++] = symbols[k];
            }
            return result;
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    private void Enqueue(PriorityQueue<(int, int, int), (int, int)> queue, int left, int leftId, int rightId)
    {
        if (_merges.TryGetValue(PairKey(leftId, rightId), out var merge))
        {
            queue.Enqueue((left, leftId, rightId), (merge.Rank, left));
        }
    }

    private static long PairKey(int left, int right) => ((long)left << 32) | (uint)right;
}
