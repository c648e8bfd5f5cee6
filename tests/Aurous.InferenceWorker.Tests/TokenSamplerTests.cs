using Aurous.InferenceWorker.Chat;

namespace Aurous.InferenceWorker.Tests;

/// <summary>
/// The sampler against a plain reference (softmax, then a full sort of the vocabulary by probability descending, ties by
/// id): every seed must pick exactly the same ids, with and without a constraint, including many equal logits.
/// </summary>
public sealed class TokenSamplerTests
{
    private static readonly double[] Temperatures = [0.25, 0.7, 1.0, 1.6];
    private static readonly double[] TopPs = [0.1, 0.5, 0.9, 0.95, 1.0];

    [Theory]
    [InlineData(7, 4)]
    [InlineData(300, 4)]
    [InlineData(5_000, 2)]
    [InlineData(50_257, 1)]
    public void PicksTheSameIdsAsAFullSort(int vocab, int seeds)
    {
        var compared = 0;
        foreach (var (temperature, topP, seed, random) in Cases(vocab, seeds))
        {
            var sampler = new TokenSampler(temperature, topP, seed, vocab);
            var reference = new ReferenceSampler(temperature, topP, seed, vocab);
            for (var step = 0; step < 4; step++)
            {
                var logits = RandomLogits(random, vocab, step);
                var expected = reference.Next(logits);
                Assert.Equal(expected, sampler.Next(logits));
                Assert.InRange(expected, 0, vocab - 1);
                compared++;
            }
        }
        Assert.Equal(Temperatures.Length * TopPs.Length * seeds * 4, compared);
    }

    [Theory]
    [InlineData(300, 4)]
    [InlineData(5_000, 2)]
    [InlineData(50_257, 1)]
    public void PicksTheSameAllowedIdsAsAFullSort(int vocab, int seeds)
    {
        var texts = Enumerable.Range(0, vocab).Select(id => $"t{id}").ToArray();
        var fellBack = 0;
        foreach (var (temperature, topP, seed, random) in Cases(vocab, seeds))
        {
            var sampler = new TokenSampler(temperature, topP, seed, vocab);
            var reference = new ReferenceSampler(temperature, topP, seed, vocab);
            foreach (var density in new[] { 0.002, 0.05, 0.5 })
            {
                var allowed = texts.Where(_ => random.NextDouble() < density).ToHashSet();
                allowed.Add(texts[random.Next(vocab)]);
                var filter = new ConstrainedTokenFilter(new OneOf(allowed), texts, []);
                var logits = RandomLogits(random, vocab, random.Next(12));
                var expected = reference.Next(logits, filter);
                Assert.Equal(expected, sampler.Next(logits, filter));
                Assert.Contains(texts[expected], allowed);
                fellBack += reference.FellBack ? 1 : 0;
            }
        }
        // The cases reach the last resort (no allowed id in the nucleus) as well as the nucleus itself.
        Assert.InRange(fellBack, 1, Temperatures.Length * TopPs.Length * seeds * 3 - 1);
    }

    [Theory]
    [InlineData(1.0, 1.0)]
    [InlineData(0.7, 0.9)]
    public void Many_draws_at_a_full_vocabulary_pick_what_the_library_exponential_picks(double temperature, double topP)
    {
        // The reference weighs with Math.Exp; the sampler's own exponential differs from it by at most one unit in the
        // last place, which moves a draw only when it falls that close to the boundary between two tokens.
        const int Vocab = 50_262;
        var draws = 0;
        for (ulong seed = 0; seed < 16; seed++)
        {
            var random = new Random((int)seed);
            var sampler = new TokenSampler(temperature, topP, seed, Vocab);
            var reference = new ReferenceSampler(temperature, topP, seed, Vocab);
            for (var step = 0; step < 64; step++)
            {
                var logits = RandomLogits(random, Vocab, step);
                Assert.Equal(reference.Next(logits), sampler.Next(logits));
                draws++;
            }
        }
        Assert.Equal(1_024, draws);
    }

    [Fact]
    public void EqualLogitsBreakTowardsTheLowerId()
    {
        // Eight equally likely ids at the top: a nucleus of 45 % of the mass holds ids 10..13, drawn in id order.
        var logits = new float[64];
        Array.Fill(logits, -30f);
        for (var id = 10; id < 18; id++)
        {
            logits[id] = 5f;
        }
        var picked = new HashSet<int>();
        for (ulong seed = 0; seed < 200; seed++)
        {
            var id = new TokenSampler(1.0, 0.45, seed, logits.Length).Next(logits);
            Assert.Equal(new ReferenceSampler(1.0, 0.45, seed, logits.Length).Next(logits), id);
            picked.Add(id);
        }
        Assert.Equal([10, 11, 12, 13], picked.Order());
    }

    [Theory]
    [InlineData(1.0)]
    [InlineData(1e3)]
    [InlineData(1e6)]
    public void NearlyEqualLogitsAreOrderedExactly(double temperature)
    {
        // Logits a few float steps apart (some equal): at high temperatures their weights differ only in the last bits,
        // and with nearly uniform weights the drawn position shows whether the nucleus order is exact.
        var random = new Random(17);
        var logits = new float[4_000];
        for (var i = 0; i < logits.Length; i++)
        {
            var value = 1f;
            for (var step = random.Next(3_000); step > 0; step--)
            {
                value = MathF.BitIncrement(value);
            }
            logits[i] = value;
        }
        var picked = new HashSet<int>();
        for (ulong seed = 0; seed < 300; seed++)
        {
            var id = new TokenSampler(temperature, 0.3, seed, logits.Length).Next(logits);
            Assert.Equal(new ReferenceSampler(temperature, 0.3, seed, logits.Length).Next(logits), id);
            picked.Add(id);
        }
        Assert.True(picked.Count > 100, $"{picked.Count} distinct ids");
    }

    private static IEnumerable<(double Temperature, double TopP, ulong Seed, Random Random)> Cases(int vocab, int seeds)
    {
        foreach (var temperature in Temperatures)
        {
            foreach (var topP in TopPs)
            {
                for (var s = 0; s < seeds; s++)
                {
                    var seed = (ulong)(vocab * 7919 + s * 104_729) + (ulong)(temperature * 1000) + (ulong)(topP * 100);
                    yield return (temperature, topP, seed, new Random((int)seed));
                }
            }
        }
    }

    /// <summary>
    /// Logits of several shapes: flat and peaked Gaussians, the same rounded to halves (many exact ties), and a few
    /// padding rows past the vocabulary that would win if they were considered.
    /// </summary>
    private static float[] RandomLogits(Random random, int vocab, int shape)
    {
        var padding = shape % 2 == 0 ? 0 : 5;
        var scale = (shape % 3) switch { 0 => 0.5, 1 => 2.5, _ => 7.0 };
        var ties = shape % 4 >= 2;
        var logits = new float[vocab + padding];
        for (var i = 0; i < vocab; i++)
        {
            var gaussian = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
            var x = gaussian * scale;
            logits[i] = (float)(ties ? Math.Round(x * 2) / 2 : x);
        }
        for (var i = vocab; i < logits.Length; i++)
        {
            logits[i] = 1000f;
        }
        return logits;
    }

    /// <summary>Allows exactly the given texts (and every one-character start, so the filter looks at whole texts).</summary>
    private sealed class OneOf(HashSet<string> allowed) : IOutputConstraint
    {
        public bool Accepts(string text) => text.Length == 1 || allowed.Contains(text);
        public bool TryFeed(string text) => Accepts(text);
        public bool IsComplete => false;
        public bool MayEnd => false;
        public bool IsFree => false;
    }

    /// <summary>The sampling rules written out plainly: a fresh softmax and a full sort of every id per token.</summary>
    private sealed class ReferenceSampler(double temperature, double topP, ulong seed, int vocabSize)
    {
        private ulong _state = seed;

        public bool FellBack { get; private set; }

        public int Next(float[] logits)
        {
            var n = Math.Min(vocabSize, logits.Length);
            var (weights, sum) = Softmax(logits, n);
            var u = NextUnit();
            var (order, count) = topP >= 1.0 ? (Enumerable.Range(0, n).ToArray(), n) : Nucleus(weights, sum);
            var kept = 0.0;
            for (var k = 0; k < count; k++)
            {
                kept += weights[order[k]];
            }
            var target = u * kept;
            var running = 0.0;
            for (var k = 0; k < count; k++)
            {
                running += weights[order[k]];
                if (running > target)
                {
                    return order[k];
                }
            }
            return topP >= 1.0 ? Array.FindLastIndex(weights, w => w > 0) : order[count - 1];
        }

        public int Next(float[] logits, ConstrainedTokenFilter filter)
        {
            var n = Math.Min(vocabSize, logits.Length);
            var (weights, sum) = Softmax(logits, n);
            var (candidates, count) = topP >= 1.0 ? (Enumerable.Range(0, n).ToArray(), n) : Nucleus(weights, sum);
            FellBack = false;
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
            for (var k = 0; k < count; k++)
            {
                if (!filter.IsAllowed(candidates[k]))
                {
                    weights[candidates[k]] = 0;
                }
            }
            var chosen = Draw(weights, candidates, count);
            if (chosen >= 0)
            {
                return chosen;
            }
            FellBack = true;
            var top = -1;
            for (var i = 0; i < n; i++)
            {
                if (filter.IsAllowed(i) && (top < 0 || logits[i] > logits[top]))
                {
                    top = i;
                }
            }
            for (var i = 0; i < n; i++)
            {
                weights[i] = filter.IsAllowed(i) ? Math.Exp((logits[i] - logits[top]) / temperature) : 0;
            }
            chosen = Draw(weights, Enumerable.Range(0, n).ToArray(), n);
            return chosen >= 0 ? chosen : top;
        }

        private (int[] Order, int Count) Nucleus(double[] weights, double sum)
        {
            var sorted = weights.Select((w, id) => (Key: -w, Id: id)).ToArray();
            Array.Sort(sorted);
            var order = sorted.Select(e => e.Id).ToArray();
            var kept = 0.0;
            var count = 0;
            while (count < order.Length)
            {
                kept += weights[order[count++]];
                if (kept >= topP * sum)
                {
                    break;
                }
            }
            return (order, count);
        }

        /// <summary>
        /// Inverse transform sampling over the candidates that have weight: the first whose cumulative weight exceeds a
        /// uniform draw scaled to their total (the last of them if rounding leaves none); -1, drawing nothing, when no
        /// candidate has weight.
        /// </summary>
        private int Draw(double[] weights, int[] candidates, int count)
        {
            var weighted = candidates.Take(count).Where(id => weights[id] > 0).ToArray();
            if (weighted.Length == 0)
            {
                return -1;
            }
            var total = 0.0;
            var cumulative = weighted.Select(id => total += weights[id]).ToArray();
            var target = NextUnit() * total;
            var at = Array.FindIndex(cumulative, c => c > target);
            return weighted[at >= 0 ? at : weighted.Length - 1];
        }

        private (double[] Weights, double Sum) Softmax(float[] logits, int n)
        {
            var max = logits.Take(n).Max();
            var weights = new double[n];
            var sum = 0.0;
            for (var i = 0; i < n; i++)
            {
                weights[i] = Math.Exp((logits[i] - max) * (1.0 / temperature));
                sum += weights[i];
            }
            return (weights, sum);
        }

        private double NextUnit()
        {
            var z = _state += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            z ^= z >> 31;
            return (z >> 11) * (1.0 / (1UL << 53));
        }
    }
}
