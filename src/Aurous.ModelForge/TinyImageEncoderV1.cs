using System.Globalization;
using Aurous.ModelForge.Onnx;

namespace Aurous.ModelForge;

/// <summary>
/// The image tower of <c>aurous-forge/tiny-clip-v2</c> (first written for its v1), in the shape of a CLIP vision export:
/// <code>
/// pixel_values float [batch, 3, S, S]   RGB, CLIP-normalised ((x/255 - mean) / std), S = manifest media.image_size
/// embeddings   float [batch, 2048]      L2-normalised
/// </code>
/// Graph: AveragePool to an 8x8 grid of "patches" (kernel = stride = S/8) -> Flatten [batch, 192] -> MatMul [192, 256]
/// + bias -> Tanh -> MatMul [256, 2048] -> divide by max(L2 norm, 1e-12). Deterministic weights; no semantic skill.
/// </summary>
public static class TinyImageEncoderV1
{
    public const string Role = "image_encoder";
    public const string PixelValues = "pixel_values";
    public const string Output = "embeddings";
    public const int Grid = 8;
    public const int Channels = 3;
    public const int PatchFeatures = Channels * Grid * Grid;
    public const int HiddenSize = 256;
    public const int OutputDimension = TinyTextEncoderV2.OutputDimension;
    public const ulong Seed = 0x4155524F5553_0002UL;
    public const float MinNorm = 1e-12f;

    /// <summary>CLIP's per-channel normalisation (the worker applies it; recorded in the model metadata as well).</summary>
    public static readonly float[] Mean = [0.48145466f, 0.4578275f, 0.40821073f];
    public static readonly float[] Std = [0.26862954f, 0.26130258f, 0.27577711f];

    /// <summary>
    /// The metadata entries that tell the worker how to turn an image into <c>pixel_values</c> (side, per-channel mean and
    /// std); every image tower the forge writes records them, so the worker has one preprocessing path for all of them.
    /// </summary>
    public static KeyValuePair<string, string>[] PreprocessingMetadata(int imageSize) =>
    [
        new("aurous.image_size", imageSize.ToString(CultureInfo.InvariantCulture)),
        new("aurous.image_mean", string.Join(",", Mean.Select(v => v.ToString("R", CultureInfo.InvariantCulture)))),
        new("aurous.image_std", string.Join(",", Std.Select(v => v.ToString("R", CultureInfo.InvariantCulture)))),
    ];

    public static (float[] W1, float[] B1, float[] W2) CreateWeights()
    {
        var random = new DeterministicRandom(Seed);
        var w1 = random.Fill(PatchFeatures * HiddenSize, 1.7f / MathF.Sqrt(PatchFeatures));
        var b1 = random.Fill(HiddenSize, 0.1f);
        var w2 = random.Fill(HiddenSize * OutputDimension, 1f / MathF.Sqrt(HiddenSize));
        return (w1, b1, w2);
    }

    public static void CheckImageSize(int imageSize)
    {
        if (imageSize < Grid || imageSize % Grid != 0)
        {
            throw new InvalidOperationException($"The tiny image encoder needs media.image_size to be a positive multiple of {Grid}, not {imageSize}.");
        }
    }

    public static OnnxModel BuildModel(string modelId, string generatorName, int imageSize)
    {
        CheckImageSize(imageSize);
        var (w1, b1, w2) = CreateWeights();
        var kernel = imageSize / Grid;
        OnnxDim batch = "batch";
        var graph = new OnnxGraph(
            Name: "tiny_image_encoder_v1",
            Nodes:
            [
                new("AveragePool", [PixelValues], ["patches"], "patch_pool")
                {
                    Attributes = [OnnxAttribute.Ints("kernel_shape", kernel, kernel), OnnxAttribute.Ints("strides", kernel, kernel)],
                },
                new("Flatten", ["patches"], ["patch_features"], "flatten") { Attributes = [OnnxAttribute.Int("axis", 1)] },
                new("MatMul", ["patch_features", "w1"], ["hidden_linear"], "embed_patches"),
                new("Add", ["hidden_linear", "b1"], ["hidden_biased"], "bias"),
                new("Tanh", ["hidden_biased"], ["hidden"], "activation"),
                new("MatMul", ["hidden", "projection"], ["projected"], "project"),
                new("ReduceL2", ["projected"], ["norm"], "l2_norm") { Attributes = [OnnxAttribute.Ints("axes", 1), OnnxAttribute.Int("keepdims", 1)] },
                new("Max", ["norm", "min_norm"], ["safe_norm"], "clamp_norm"),
                new("Div", ["projected", "safe_norm"], [Output], "normalise"),
            ],
            Inputs: [new(PixelValues, OnnxDataType.Float, [batch, Channels, imageSize, imageSize])],
            Outputs: [new(Output, OnnxDataType.Float, [batch, OutputDimension])],
            Initializers:
            [
                OnnxTensor.FromFloats("w1", [PatchFeatures, HiddenSize], w1),
                OnnxTensor.FromFloats("b1", [HiddenSize], b1),
                OnnxTensor.FromFloats("projection", [HiddenSize, OutputDimension], w2),
                OnnxTensor.FromFloats("min_norm", [], [MinNorm]),
            ]);
        return OnnxModel.Forged(graph,
            "Tiny deterministic image encoder", generatorName, modelId,
            [
                .. PreprocessingMetadata(imageSize),
                new("aurous.normalized", "l2"),
            ]);
    }

    /// <summary>The model's math in plain C# (double precision), for tests: [batch, 3, S, S] in, [batch, 2048] out.</summary>
    public static double[] Reference(float[] pixels, int batch, int imageSize)
    {
        var (w1, b1, w2) = CreateWeights();
        var kernel = imageSize / Grid;
        var result = new double[batch * OutputDimension];
        for (var b = 0; b < batch; b++)
        {
            var features = new double[PatchFeatures];
            for (var c = 0; c < Channels; c++)
            {
                for (var gy = 0; gy < Grid; gy++)
                {
                    for (var gx = 0; gx < Grid; gx++)
                    {
                        double sum = 0;
                        for (var y = 0; y < kernel; y++)
                        {
                            for (var x = 0; x < kernel; x++)
                            {
                                sum += pixels[((b * Channels + c) * imageSize + gy * kernel + y) * imageSize + gx * kernel + x];
                            }
                        }
                        features[(c * Grid + gy) * Grid + gx] = sum / (kernel * kernel);
                    }
                }
            }
            var hidden = new double[HiddenSize];
            for (var h = 0; h < HiddenSize; h++)
            {
                double sum = b1[h];
                for (var f = 0; f < PatchFeatures; f++)
                {
                    sum += features[f] * w1[f * HiddenSize + h];
                }
                hidden[h] = Math.Tanh(sum);
            }
            var projected = new double[OutputDimension];
            for (var d = 0; d < OutputDimension; d++)
            {
                double sum = 0;
                for (var h = 0; h < HiddenSize; h++)
                {
                    sum += hidden[h] * w2[h * OutputDimension + d];
                }
                projected[d] = sum;
            }
            var norm = Math.Max(Math.Sqrt(projected.Sum(v => v * v)), MinNorm);
            for (var d = 0; d < OutputDimension; d++)
            {
                result[b * OutputDimension + d] = projected[d] / norm;
            }
        }
        return result;
    }
}
