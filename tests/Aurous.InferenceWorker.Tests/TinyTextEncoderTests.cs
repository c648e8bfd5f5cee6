using Aurous.InferenceWorker.Models;
using Aurous.ModelForge;
using Microsoft.ML.OnnxRuntime;

namespace Aurous.InferenceWorker.Tests;

/// <summary>The hand-written ONNX writer and the tiny text encoder recipe, checked against ONNX Runtime itself.</summary>
public sealed class TinyTextEncoderTests
{
    private static readonly Lazy<byte[]> ModelBytes = new(() => ModelForge.Onnx.OnnxWriter.Serialize(TinyTextEncoderV1.BuildModel("test-model")));

    [Fact]
    public void OnnxRuntime_loads_the_written_model_with_the_declared_signature()
    {
        using var session = new InferenceSession(ModelBytes.Value);

        session.InputMetadata.Keys.ShouldBe(["input_ids", "attention_mask"]);
        session.InputMetadata["input_ids"].SymbolicDimensions.ShouldBe(["batch", "sequence"]);
        session.OutputMetadata.Keys.ShouldBe(["embeddings"]);
        session.OutputMetadata["embeddings"].Dimensions.ShouldBe([-1, TinyTextEncoderV1.OutputDimension]);
        session.ModelMetadata.ProducerName.ShouldBe("aurous-modelforge");
        session.ModelMetadata.CustomMetadataMap["aurous.generator"].ShouldBe(TinyTextEncoderV1.GeneratorName);
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
        actual.Length.ShouldBe(3 * TinyTextEncoderV1.OutputDimension);
        var maxError = actual.Zip(expected, (a, e) => Math.Abs(a - e)).Max();
        maxError.ShouldBeLessThan(1e-5, $"max abs error {maxError:E2}");
        for (var row = 0; row < 3; row++)
        {
            var norm = Math.Sqrt(actual.Skip(row * 2048).Take(2048).Sum(v => (double)v * v));
            norm.ShouldBe(1.0, 1e-5);
        }
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
        var first = ModelForge.Onnx.OnnxWriter.Serialize(TinyTextEncoderV1.BuildModel("m"));
        var second = ModelForge.Onnx.OnnxWriter.Serialize(TinyTextEncoderV1.BuildModel("m"));

        second.AsSpan().SequenceEqual(first).ShouldBeTrue();
    }

    [Fact]
    public void The_weights_are_pinned_by_the_seed()
    {
        // Guards the PRNG and the generation order: changing either changes every generated model.
        var (embedding, projection) = TinyTextEncoderV1.CreateWeights();
        var again = TinyTextEncoderV1.CreateWeights();
        embedding.ShouldBe(again.TokenEmbedding);
        projection.ShouldBe(again.Projection);
        embedding.ShouldAllBe(v => v >= -1f && v < 1f);
        projection.ShouldAllBe(v => Math.Abs(v) <= 0.125f);
        new DeterministicRandom(42).NextUInt64().ShouldBe(new DeterministicRandom(42).NextUInt64());
        new DeterministicRandom(0).NextUInt64().ShouldBe(0xE220A8397B1DCDAFUL); // SplitMix64 reference value for seed 0
    }

    /// <summary>The model's math in plain C# (double precision): masked mean of token embeddings, projection, L2 norm.</summary>
    private static double[] Reference(long[] ids, long[] mask, int batch, int sequence)
    {
        var (embedding, projection) = TinyTextEncoderV1.CreateWeights();
        const int hidden = TinyTextEncoderV1.HiddenSize, dim = TinyTextEncoderV1.OutputDimension;
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
            count = Math.Max(count, TinyTextEncoderV1.MinTokenCount);
            var projected = new double[dim];
            for (var d = 0; d < dim; d++)
            {
                double sum = 0;
                for (var h = 0; h < hidden; h++)
                {
                    sum += pooled[h] / count * projection[h * dim + d];
                }
                projected[d] = sum;
            }
            var norm = Math.Max(Math.Sqrt(projected.Sum(v => v * v)), TinyTextEncoderV1.MinNorm);
            for (var d = 0; d < dim; d++)
            {
                result[b * dim + d] = projected[d] / norm;
            }
        }
        return result;
    }
}
