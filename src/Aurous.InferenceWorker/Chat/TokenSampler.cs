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
}
