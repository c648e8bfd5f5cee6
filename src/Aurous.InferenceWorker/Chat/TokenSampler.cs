namespace Aurous.InferenceWorker.Chat;

/// <summary>
/// Picks the next token from logits: greedy at temperature 0, otherwise softmax(logits / temperature) restricted to the
/// smallest set of most likely tokens whose mass reaches <c>top_p</c> (nucleus), drawn with a seeded SplitMix64
/// generator (specified here, so a seed gives the same tokens on every .NET version and machine; System.Random's
/// algorithm is unspecified). Ties break towards the lower id. Ids at or above <c>vocabSize</c> (padding rows some
/// exports add to the logits) are never picked.
/// </summary>
public sealed class TokenSampler(double temperature, double topP, ulong seed, int vocabSize)
{
    private ulong _state = seed;
    private int[]? _order;

    public int Next(float[] logits)
    {
        var n = Math.Min(vocabSize, logits.Length);
        if (temperature <= 0)
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

        var (weights, sum) = SoftmaxWeights(logits, n, temperature);

        var u = NextUnit();
        if (topP >= 1.0)
        {
            var target = u * sum;
            double cumulative = 0;
            for (var i = 0; i < n; i++)
            {
                cumulative += weights[i];
                if (cumulative > target)
                {
                    return i;
                }
            }
            return LastPositive(weights);
        }

        // Nucleus: sort by probability (descending, ties by id), keep the prefix whose mass reaches top_p.
        var order = _order is { Length: var length } && length == n ? _order : _order = new int[n];
        for (var i = 0; i < n; i++)
        {
            order[i] = i;
        }
        var keys = new double[n];
        for (var i = 0; i < n; i++)
        {
            keys[i] = -weights[i];
        }
        Array.Sort(keys, order);
        var limit = topP * sum;
        double kept = 0;
        var count = 0;
        while (count < n)
        {
            kept += weights[order[count]];
            count++;
            if (kept >= limit)
            {
                break;
            }
        }
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
            var best = 0;
            for (var i = 1; i < n; i++)
            {
                if (logits[i] > logits[best])
                {
                    best = i;
                }
            }
            return filter.IsAllowed(best) ? best : BestAllowed(logits, filter.Mask(n), n);
        }

        var (weights, sum) = SoftmaxWeights(logits, n, temperature);

        // The candidates: every id, or the nucleus (most likely first, ties by id) whose mass reaches top_p.
        int[] candidates;
        int count;
        if (topP >= 1.0)
        {
            candidates = _all is { Length: var length } && length == n ? _all : _all = Enumerable.Range(0, n).ToArray();
            count = n;
        }
        else
        {
            candidates = new int[n];
            var keys = new double[n];
            for (var i = 0; i < n; i++)
            {
                candidates[i] = i;
                keys[i] = -weights[i];
            }
            Array.Sort(keys, candidates);
            var limit = topP * sum;
            double kept = 0;
            count = 0;
            while (count < n)
            {
                kept += weights[candidates[count]];
                count++;
                if (kept >= limit)
                {
                    break;
                }
            }
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
        candidates = _all is { Length: var all } && all == n ? _all : _all = Enumerable.Range(0, n).ToArray();
        chosen = Draw(weights, candidates, n);
        return chosen >= 0 ? chosen : top;
    }

    private int[]? _all;

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

    private static int LastPositive(double[] weights)
    {
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

    /// <summary>Unnormalised softmax weights at <paramref name="temperature"/> (shifted by the max for stability) and their sum.</summary>
    private static (double[] Weights, double Sum) SoftmaxWeights(ReadOnlySpan<float> logits, int n, double temperature)
    {
        var max = float.NegativeInfinity;
        for (var i = 0; i < n; i++)
        {
            max = Math.Max(max, logits[i]);
        }
        var weights = new double[n];
        double sum = 0;
        var inverse = 1.0 / temperature;
        for (var i = 0; i < n; i++)
        {
            var w = Math.Exp((logits[i] - max) * inverse);
            weights[i] = w;
            sum += w;
        }
        return (weights, sum);
    }
}
