using Aurous.InferenceWorker.Embeddings;
using Aurous.InferenceWorker.Models;
using Aurous.ModelForge;
using Aurous.ModelForge.Onnx;
using Microsoft.ML.OnnxRuntime;

namespace Aurous.InferenceWorker.Tests;

/// <summary>The tiny image encoder recipe checked against a plain C# computation of the same math.</summary>
public sealed class ImageEncoderTests
{
    private const int Size = 224;
    private static readonly Lazy<byte[]> ModelBytes = new(() => OnnxWriter.Serialize(TinyImageEncoderV1.BuildModel("test-model", TinyClipV2.GeneratorName, Size)));

    [Fact]
    public void OnnxRuntime_output_matches_the_reference_computation()
    {
        using var encoder = ImageEncoderModel.Create(new InferenceSession(ModelBytes.Value));
        encoder.ImageSize.ShouldBe(Size);
        var random = new Random(3);
        var rgb = new byte[2][];
        for (var i = 0; i < 2; i++)
        {
            rgb[i] = new byte[Size * Size * 3];
            random.NextBytes(rgb[i]);
        }
        var pixels = rgb.SelectMany(image => encoder.Preprocess(image)).ToArray();

        var actual = encoder.Encode(pixels, batch: 2);

        var expected = TinyImageEncoderV1.Reference(pixels, batch: 2, Size);
        actual.Length.ShouldBe(2 * 2048);
        var maxError = actual.Zip(expected, (a, e) => Math.Abs(a - e)).Max();
        maxError.ShouldBeLessThan(1e-5, $"max abs error {maxError:E2}");
        for (var row = 0; row < 2; row++)
        {
            Math.Sqrt(actual.Skip(row * 2048).Take(2048).Sum(v => (double)v * v)).ShouldBe(1.0, 1e-5);
        }
        // Different images, different vectors.
        actual.Take(2048).Zip(actual.Skip(2048), (a, b) => Math.Abs(a - b)).Max().ShouldBeGreaterThan(1e-3f);
    }

    [Fact]
    public void Preprocessing_is_CLIP_normalisation_in_planar_order()
    {
        using var encoder = ImageEncoderModel.Create(new InferenceSession(ModelBytes.Value));
        var rgb = new byte[Size * Size * 3];
        rgb[0] = 255; // first pixel: pure red
        var pixels = encoder.Preprocess(rgb);

        pixels[0].ShouldBe((1f - TinyImageEncoderV1.Mean[0]) / TinyImageEncoderV1.Std[0], 1e-5f);
        pixels[Size * Size].ShouldBe(-TinyImageEncoderV1.Mean[1] / TinyImageEncoderV1.Std[1], 1e-5f);
        pixels[2 * Size * Size + 1].ShouldBe(-TinyImageEncoderV1.Mean[2] / TinyImageEncoderV1.Std[2], 1e-5f);
    }

    [Fact]
    public void Batched_image_runs_equal_single_runs()
    {
        using var encoder = ImageEncoderModel.Create(new InferenceSession(ModelBytes.Value));
        var random = new Random(5);
        var frames = Enumerable.Range(0, 5).Select(_ =>
        {
            var rgb = new byte[Size * Size * 3];
            random.NextBytes(rgb);
            return encoder.Preprocess(rgb);
        }).ToArray();

        var batched = EmbeddingEngine.RunImageBatch(encoder, frames);

        for (var i = 0; i < frames.Length; i++)
        {
            var single = EmbeddingEngine.RunImageBatch(encoder, [frames[i]])[0];
            batched[i].Zip(single, (a, b) => Math.Abs(a - b)).Max().ShouldBeLessThan(1e-5f);
        }
    }

    [Fact]
    public void An_image_size_that_is_not_a_multiple_of_the_grid_is_refused() =>
        Should.Throw<InvalidOperationException>(() => TinyImageEncoderV1.BuildModel("m", TinyClipV2.GeneratorName, 100))
            .Message.ShouldContain("multiple of 8");
}
