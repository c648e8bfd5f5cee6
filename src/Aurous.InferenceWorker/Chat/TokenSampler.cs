using System.Runtime.CompilerServices;

namespace Aurous.InferenceWorker.Chat;

/// <summary>
/// Picks the next token from logits: greedy at temperature 0, otherwise softmax(logits / temperature) (its weights from
/// the exponential specified in <see cref="Chat.SoftmaxWeights"/>, summed in id order) restricted to the
/// smallest set of most likely tokens whose mass reaches <c>top_p</c> (nucleus), drawn with a seeded SplitMix64
/// generator (specified here, so a seed gives the same tokens on every .NET version and machine; System.Random's
/// algorithm is unspecified). Ties break towards the lower id. Ids at or above <c>vocabSize</c> (padding rows some
/// exports add to the logits) are never picked.
/// </summary>
public sealed class TokenSampler(double temperature, double topP, ulong seed, int vocabSize)
{
    private ulong _state = seed;
    private double[]? _weights;

    public int Next(float[] logits)
    {
        var n = Math.Min(vocabSize, logits.Length);
        if (temperature <= 0)
        {
            return Argmax(logits, n);
        }

        var (weights, sum) = Weigh(logits, n, temperature);

        var u = NextUnit();
        if (topP >= 1.0)
        {
            return Pick(weights.AsSpan(0, n), u * sum);
        }

        // Nucleus: the most likely ids (ties by id) whose mass reaches top_p.
        var (order, count, kept) = Nucleus(weights, n, topP * sum);
        var pick = u * kept;
        double running = 0;
        for (var k = 0; k < count; k++)
        {
            running += weights[order[k]];
            if (running > pick)
            {
                return order[k];
            }
        }
        return order[count - 1];
    }

    /// <summary>
    /// Like <see cref="Next(float[])"/>, but only ids that <paramref name="filter"/> allows: greedy takes the most likely
    /// allowed id; sampling draws from the same temperature/top_p distribution and, when the drawn id is not allowed,
    /// zeroes it and draws again (up to 8 times), then draws from the nucleus restricted to the allowed ids, and if the
    /// nucleus holds none, from all allowed ids. Deterministic for a seed.
    /// </summary>
    public int Next(float[] logits, ConstrainedTokenFilter filter)
    {
        var n = Math.Min(vocabSize, logits.Length);
        if (temperature <= 0)
        {
            var best = Argmax(logits, n);
            return filter.IsAllowed(best) ? best : BestAllowed(logits, filter.Mask(n), n);
        }

        var (weights, sum) = Weigh(logits, n, temperature);

        // The candidates: every id, or the nucleus (most likely first, ties by id) whose mass reaches top_p.
        int[] candidates;
        int count;
        if (topP >= 1.0)
        {
            candidates = AllIds(n);
            count = n;
        }
        else
        {
            (candidates, count, _) = Nucleus(weights, n, topP * sum);
        }

        for (var attempt = 0; attempt < 8; attempt++)
        {
            var pick = Draw(weights, candidates, count);
            if (pick < 0)
            {
                break;
            }
            if (filter.IsAllowed(pick))
            {
                return pick;
            }
            weights[pick] = 0;
        }

        var mask = filter.Mask(n);
        for (var k = 0; k < count; k++)
        {
            if (!mask[candidates[k]])
            {
                weights[candidates[k]] = 0;
            }
        }
        var chosen = Draw(weights, candidates, count);
        if (chosen >= 0)
        {
            return chosen;
        }

        // Nothing allowed in the nucleus (or its weights underflowed): all allowed ids, scaled to the best of them.
        var top = BestAllowed(logits, mask, n);
        for (var i = 0; i < n; i++)
        {
            weights[i] = mask[i] ? Math.Exp((logits[i] - logits[top]) / temperature) : 0;
        }
        chosen = Draw(weights, AllIds(n), n);
        return chosen >= 0 ? chosen : top;
    }

    private int[]? _all;

    /// <summary>The ids 0..n-1 in order, in a buffer kept for the next call.</summary>
    private int[] AllIds(int n) =>
        _all is { Length: var length } && length == n ? _all : _all = Enumerable.Range(0, n).ToArray();

    /// <summary>Draws one of <paramref name="candidates"/>[..count] by weight; -1 when their weights are all zero.</summary>
    private int Draw(double[] weights, int[] candidates, int count)
    {
        double total = 0;
        for (var k = 0; k < count; k++)
        {
            total += weights[candidates[k]];
        }
        if (!(total > 0))
        {
            return -1;
        }
        var target = NextUnit() * total;
        double running = 0;
        var last = -1;
        for (var k = 0; k < count; k++)
        {
            var w = weights[candidates[k]];
            if (w <= 0)
            {
                continue;
            }
            running += w;
            last = candidates[k];
            if (running > target)
            {
                return last;
            }
        }
        return last;
    }

    // Nucleus search: weights fall into buckets by their binary exponent and top three mantissa bits (eight per halving,
    // the last bucket holding everything smaller), so the buckets order the weights and their masses show how far down
    // the nucleus reaches; only the ids in the buckets it needs are sorted.
    private const int Buckets = 1024;
    private const long OneBits = 0x3FF0000000000000L;
    private double[]? _bucketMass;
    private ulong[]? _keys;
    private ulong[]? _spareKeys;
    private int[]? _ids;
    private int[]? _spareIds;
    private readonly int[] _digitCounts = new int[256];

    /// <summary>
    /// The nucleus: the ids sorted by weight (descending, ties by id) whose running mass first reaches
    /// <paramref name="limit"/> (all <paramref name="n"/> when it never does), in a buffer reused until the next call,
    /// with their count and that running mass.
    /// </summary>
    private (int[] Ids, int Count, double Kept) Nucleus(double[] weights, int n, double limit)
    {
        var mass = _bucketMass ??= new double[Buckets];
        Array.Clear(mass);
        for (var i = 0; i < n; i++)
        {
            mass[Bucket(weights[i])] += weights[i];
        }
        var last = 0;
        double reached = 0;
        for (; last < Buckets - 1; last++)
        {
            reached += mass[last];
            if (reached >= limit)
            {
                break;
            }
        }

        while (true)
        {
            var (ids, gathered) = SortedDown(weights, n, last);
            double kept = 0;
            var count = 0;
            while (count < gathered)
            {
                kept += weights[ids[count]];
                count++;
                if (kept >= limit)
                {
                    return (ids, count, kept);
                }
            }
            if (gathered == n)
            {
                return (ids, count, kept);
            }
            // The buckets' sums rounded differently from the sorted running sum: take in the next bucket that holds any.
            do
            {
                last++;
            }
            while (last < Buckets - 1 && mass[last] == 0);
        }
    }

    /// <summary>
    /// The ids in buckets up to <paramref name="last"/> (a prefix of the sorted order), sorted by weight descending,
    /// ties by id, and their count.
    /// </summary>
    private (int[] Ids, int Count) SortedDown(double[] weights, int n, int last)
    {
        var keys = _keys is { Length: var length } && length == n ? _keys : _keys = new ulong[n];
        var ids = _ids is { Length: var idLength } && idLength == n ? _ids : _ids = new int[n];
        var m = 0;
        for (var i = 0; i < n; i++)
        {
            if (Bucket(weights[i]) <= last)
            {
                // Non-negative doubles order as their bits; complemented, the heaviest comes first.
                keys[m] = ~(ulong)BitConverter.DoubleToInt64Bits(weights[i]);
                ids[m] = i;
                m++;
            }
        }
        return (RadixSort(keys, ids, m), m);
    }

    /// <summary>
    /// Sorts <paramref name="keys"/>[..m] ascending, moving <paramref name="ids"/> alongside and keeping equal keys in
    /// their given (id) order: least significant byte first, skipping bytes every key shares. Returns the buffer that
    /// holds the sorted ids.
    /// </summary>
    private int[] RadixSort(ulong[] keys, int[] ids, int m)
    {
        var spareKeys = _spareKeys is { Length: var length } && length == keys.Length ? _spareKeys : _spareKeys = new ulong[keys.Length];
        var spareIds = _spareIds is { Length: var idLength } && idLength == ids.Length ? _spareIds : _spareIds = new int[ids.Length];
        var counts = _digitCounts;
        for (var shift = 0; shift < 64 && m > 1; shift += 8)
        {
            Array.Clear(counts);
            for (var i = 0; i < m; i++)
            {
                counts[(int)(keys[i] >> shift) & 0xFF]++;
            }
            if (counts[(int)(keys[0] >> shift) & 0xFF] == m)
            {
                continue;
            }
            var start = 0;
            for (var digit = 0; digit < counts.Length; digit++)
            {
                (counts[digit], start) = (start, start + counts[digit]);
            }
            for (var i = 0; i < m; i++)
            {
                var at = counts[(int)(keys[i] >> shift) & 0xFF]++;
                spareKeys[at] = keys[i];
                spareIds[at] = ids[i];
            }
            (keys, spareKeys) = (spareKeys, keys);
            (ids, spareIds) = (spareIds, ids);
        }
        return ids;
    }

    /// <summary>0 for the largest weight (1) and higher for smaller ones; a larger weight never has a higher bucket.</summary>
    private static int Bucket(double weight) =>
        (int)Math.Clamp((OneBits - BitConverter.DoubleToInt64Bits(weight)) >> 49, 0, Buckets - 1);

    /// <summary>The most likely of the first <paramref name="n"/> ids; ties break towards the lower id.</summary>
    internal static int Argmax(float[] logits, int n)
    {
        var best = 0;
        for (var i = 1; i < n; i++)
        {
            if (logits[i] > logits[best])
            {
                best = i;
            }
        }
        return best;
    }

    private static int BestAllowed(float[] logits, bool[] mask, int n)
    {
        var best = -1;
        for (var i = 0; i < n; i++)
        {
            if (mask[i] && (best < 0 || logits[i] > logits[best]))
            {
                best = i;
            }
        }
        return best >= 0 ? best : throw new InvalidOperationException("no token can continue the structured output");
    }

    /// <summary>
    /// The first id whose running weight, added in id order, passes <paramref name="target"/>; the last positive
    /// weight's id where rounding leaves the total short of it. A method of its own, so its running sum stays in a
    /// register (inlined into <see cref="Next(float[])"/> it was kept in memory, several times slower per id).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Pick(ReadOnlySpan<double> weights, double target)
    {
        double cumulative = 0;
        for (var i = 0; i < weights.Length; i++)
        {
            cumulative += weights[i];
            if (cumulative > target)
            {
                return i;
            }
        }
        for (var i = weights.Length - 1; i >= 0; i--)
        {
            if (weights[i] > 0)
            {
                return i;
            }
        }
        return 0;
    }

    /// <summary>Uniform in [0, 1) from the top 53 bits of SplitMix64.</summary>
    private double NextUnit()
    {
        var z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (z >> 11) * (1.0 / (1UL << 53));
    }

    /// <summary>Unnormalised softmax weights at <paramref name="temperature"/> (shifted by the max for stability, <see cref="Chat.SoftmaxWeights"/>) and their sum.</summary>
    private (double[] Weights, double Sum) Weigh(ReadOnlySpan<float> logits, int n, double temperature)
    {
        var weights = _weights is { Length: var length } && length == n ? _weights : _weights = new double[n];
        var max = Chat.SoftmaxWeights.Max(logits[..n]);
        return (weights, Chat.SoftmaxWeights.Fill(logits[..n], max, 1.0 / temperature, weights));
    }
}
