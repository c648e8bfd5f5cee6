using Aurous.InferenceWorker.Models;
using Aurous.ModelForge;
using Microsoft.ML.OnnxRuntime;

namespace Aurous.InferenceWorker.Tests;

/// <summary>The hand-written ONNX writer and the tiny text encoder recipe (v2: MLP head), checked against ONNX Runtime itself.</summary>
public sealed class TinyTextEncoderTests
{
    private static readonly Lazy<byte[]> ModelBytes = new(() => ModelForge.Onnx.OnnxWriter.Serialize(TinyTextEncoderV2.BuildModel("test-model")));

    [Fact]
    public void OnnxRuntime_loads_the_written_model_with_the_declared_signature()
    {
        using var session = new InferenceSession(ModelBytes.Value);

        session.InputMetadata.Keys.ShouldBe(["input_ids", "attention_mask"]);
        session.InputMetadata["input_ids"].SymbolicDimensions.ShouldBe(["batch", "sequence"]);
        session.OutputMetadata.Keys.ShouldBe(["embeddings"]);
        session.OutputMetadata["embeddings"].Dimensions.ShouldBe([-1, TinyTextEncoderV2.OutputDimension]);
        session.ModelMetadata.ProducerName.ShouldBe("aurous-modelforge");
        session.ModelMetadata.CustomMetadataMap["aurous.generator"].ShouldBe(TinyTextEncoderV2.GeneratorName);
        session.ModelMetadata.CustomMetadataMap["aurous.head"].ShouldBe("matmul64x768-tanh-matmul768x2048");
    }

    [Fact]
    public void The_v2_file_stays_small()
    {
        // Token table 50257x64 plus a 64x768 + 768x2048 head: ~19.4 MB.
        ModelBytes.Value.Length.ShouldBeLessThan(20_000_000);
    }

    [Fact]
    public void OnnxRuntime_output_matches_the_reference_computation()
    {
        using var session = new InferenceSession(ModelBytes.Value);
        using var encoder = TextEncoderModel.Create(session);
        // Three rows, padded to 5: full, partly padded, and a single token at the highest id.
        long[] ids =
        [
            15496, 11, 995, 0, 50256,
            464, 3290, 318, 0, 0,
            50256, 0, 0, 0, 0,
        ];
        long[] mask =
        [
            1, 1, 1, 1, 1,
            1, 1, 1, 0, 0,
            1, 0, 0, 0, 0,
        ];

        var actual = encoder.Encode(ids, mask, batch: 3, sequence: 5);

        var expected = Reference(ids, mask, batch: 3, sequence: 5);
        actual.Length.ShouldBe(3 * TinyTextEncoderV2.OutputDimension);
        var maxError = actual.Zip(expected, (a, e) => Math.Abs(a - e)).Max();
        maxError.ShouldBeLessThan(1e-5, $"max abs error {maxError:E2}");
        // Relative to the size of the outputs (unit vectors in 2048 dimensions: |v| ~ 0.02), the error stays tiny too.
        var maxRelative = actual.Zip(expected, (a, e) => Math.Abs(a - e) / Math.Max(Math.Abs(e), 1e-3)).Max();
        maxRelative.ShouldBeLessThan(1e-3, $"max relative error {maxRelative:E2}");
        for (var row = 0; row < 3; row++)
        {
            var norm = Math.Sqrt(actual.Skip(row * 2048).Take(2048).Sum(v => (double)v * v));
            norm.ShouldBe(1.0, 1e-5);
        }
    }

    [Fact]
    public void The_head_is_not_linear()
    {
        // With a linear tower, doubling every token's weight in the mean would not change the direction; the head's
        // Tanh does. Compare one token against the mean of that token with itself at different mask patterns.
        using var encoder = TextEncoderModel.Create(new InferenceSession(ModelBytes.Value));
        var one = encoder.Encode([464], [1], batch: 1, sequence: 1);
        var mix = encoder.Encode([464, 3290], [1, 1], batch: 1, sequence: 2);
        var other = encoder.Encode([3290], [1], batch: 1, sequence: 1);
        var expected = Reference([464, 3290], [1, 1], batch: 1, sequence: 2);
        mix.Zip(expected, (a, e) => Math.Abs(a - e)).Max().ShouldBeLessThan(1e-5);
        // A linear tower would put the mix on the plane of the two single-token outputs (up to scale).
        var residual = ResidualOffPlane(mix, one, other);
        residual.ShouldBeGreaterThan(1e-3);
    }

    [Fact]
    public void An_all_padding_row_gives_a_zero_vector_not_NaN()
    {
        using var encoder = TextEncoderModel.Create(new InferenceSession(ModelBytes.Value));

        var output = encoder.Encode([1, 2, 3], [0, 0, 0], batch: 1, sequence: 3);

        output.ShouldAllBe(v => v == 0f);
    }

    [Fact]
    public void Serialisation_is_byte_identical_across_runs()
    {
        var first = ModelForge.Onnx.OnnxWriter.Serialize(TinyTextEncoderV2.BuildModel("m"));
        var second = ModelForge.Onnx.OnnxWriter.Serialize(TinyTextEncoderV2.BuildModel("m"));

        second.AsSpan().SequenceEqual(first).ShouldBeTrue();
    }

    [Fact]
    public void The_weights_are_pinned_by_the_seed()
    {
        // Guards the PRNG and the generation order: changing either changes every generated model.
        var (embedding, headIn, headOut) = TinyTextEncoderV2.CreateWeights();
        embedding.ShouldBe(TinyTextEncoderV2.CreateWeights().TokenEmbedding);
        embedding.ShouldAllBe(v => v >= -1f && v < 1f);
        headIn.Length.ShouldBe(64 * TinyTextEncoderV2.HeadWidth);
        headOut.Length.ShouldBe(TinyTextEncoderV2.HeadWidth * 2048);
        headIn.ShouldBe(TinyTextEncoderV2.CreateWeights().HeadIn);
        headIn.ShouldAllBe(v => Math.Abs(v) <= 0.375f);
        headOut.ShouldAllBe(v => Math.Abs(v) <= 1f / MathF.Sqrt(TinyTextEncoderV2.HeadWidth));
        new DeterministicRandom(42).NextUInt64().ShouldBe(new DeterministicRandom(42).NextUInt64());
        new DeterministicRandom(0).NextUInt64().ShouldBe(0xE220A8397B1DCDAFUL); // SplitMix64 reference value for seed 0
    }

    /// <summary>The v2 model's math in plain C# (double precision): masked mean of token embeddings, MatMul 64xH, tanh,
    /// MatMul Hx2048, L2 norm.</summary>
    private static double[] Reference(long[] ids, long[] mask, int batch, int sequence)
    {
        var (embedding, headIn, headOut) = TinyTextEncoderV2.CreateWeights();
        const int hidden = TinyTextEncoderV2.HiddenSize, width = TinyTextEncoderV2.HeadWidth, dim = TinyTextEncoderV2.OutputDimension;
        var result = new double[batch * dim];
        for (var b = 0; b < batch; b++)
        {
            var pooled = new double[hidden];
            double count = 0;
            for (var t = 0; t < sequence; t++)
            {
                var m = mask[b * sequence + t];
                count += m;
                var id = ids[b * sequence + t];
                for (var h = 0; h < hidden; h++)
                {
                    pooled[h] += embedding[id * hidden + h] * m;
                }
            }
            count = Math.Max(count, TinyTextEncoderV2.MinTokenCount);
            var activated = new double[width];
            for (var j = 0; j < width; j++)
            {
                double sum = 0;
                for (var h = 0; h < hidden; h++)
                {
                    sum += pooled[h] / count * headIn[h * width + j];
                }
                activated[j] = Math.Tanh(sum);
            }
            var projected = new double[dim];
            for (var j = 0; j < width; j++)
            {
                var a = activated[j];
                for (var d = 0; d < dim; d++)
                {
                    projected[d] += a * headOut[j * dim + d];
                }
            }
            var norm = Math.Max(Math.Sqrt(projected.Sum(v => v * v)), TinyTextEncoderV2.MinNorm);
            for (var d = 0; d < dim; d++)
            {
                result[b * dim + d] = projected[d] / norm;
            }
        }
        return result;
    }

    /// <summary>Distance of <paramref name="v"/> from the plane spanned by <paramref name="a"/> and <paramref name="b"/>.</summary>
    private static double ResidualOffPlane(float[] v, float[] a, float[] b)
    {
        double Dot(float[] x, float[] y) => x.Zip(y, (p, q) => (double)p * q).Sum();
        double aa = Dot(a, a), bb = Dot(b, b), ab = Dot(a, b), va = Dot(v, a), vb = Dot(v, b);
        var det = aa * bb - ab * ab;
        var alpha = (va * bb - vb * ab) / det;
        var beta = (vb * aa - va * ab) / det;
        return Math.Sqrt(v.Select((x, i) => Math.Pow(x - alpha * a[i] - beta * b[i], 2)).Sum());
    }
}
