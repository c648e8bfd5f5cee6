using System.Globalization;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Aurous.InferenceWorker.Models;

/// <summary>
/// An image encoder session (a model's <c>image_encoder</c> file): <c>pixel_values</c> float [batch, 3, S, S] in
/// (CLIP-normalised RGB), one embedding per image out. The normalisation comes from the model's metadata
/// (<c>aurous.image_mean</c> / <c>aurous.image_std</c>), CLIP's values otherwise. Thread-safe.
/// </summary>
public sealed class ImageEncoderModel : IDisposable
{
    public const string PixelValues = "pixel_values";
    private static readonly string[] PreferredOutputs = ["embeddings", "image_embeds", "pooler_output"];
    private static readonly float[] ClipMean = [0.48145466f, 0.4578275f, 0.40821073f];
    private static readonly float[] ClipStd = [0.26862954f, 0.26130258f, 0.27577711f];

    private readonly InferenceSession _session;
    private readonly string _outputName;
    private readonly float[] _scale;
    private readonly float[] _offset;

    private ImageEncoderModel(InferenceSession session, string outputName, int imageSize, int? dimension, float[] mean, float[] std)
    {
        _session = session;
        _outputName = outputName;
        ImageSize = imageSize;
        Dimension = dimension;
        // (x / 255 - mean) / std == x * scale + offset
        _scale = std.Select(s => 1f / (255f * s)).ToArray();
        _offset = mean.Zip(std, (m, s) => -m / s).ToArray();
    }

    /// <summary>Side of the square input (S).</summary>
    public int ImageSize { get; }
    public int? Dimension { get; private set; }
    public InferenceSession Session => _session;

    public static ImageEncoderModel Create(InferenceSession session)
    {
        if (!session.InputMetadata.TryGetValue(PixelValues, out var input) || session.InputMetadata.Count != 1)
        {
            throw new InvalidDataException($"an image encoder needs exactly one input '{PixelValues}'; this model has: {string.Join(", ", session.InputMetadata.Keys)}");
        }
        var dims = input.Dimensions;
        if (input.ElementDataType != TensorElementType.Float || dims.Length != 4 || dims[1] != 3 || dims[2] <= 0 || dims[2] != dims[3])
        {
            throw new InvalidDataException($"input '{PixelValues}' must be float [batch, 3, S, S] with a fixed S, not {input.ElementDataType} [{string.Join(", ", dims)}]");
        }
        var outputs = session.OutputMetadata;
        var outputName = PreferredOutputs.FirstOrDefault(outputs.ContainsKey)
            ?? outputs.FirstOrDefault(o => o.Value.ElementDataType == TensorElementType.Float && o.Value.Dimensions.Length == 2).Key
            ?? throw new InvalidDataException($"an image encoder needs a float [batch, dimension] output; this model has: {string.Join(", ", outputs.Keys)}");
        var declared = outputs[outputName].Dimensions;
        int? dimension = declared.Length == 2 && declared[1] > 0 ? declared[1] : null;
        var metadata = session.ModelMetadata.CustomMetadataMap;
        var mean = ReadTriple(metadata, "aurous.image_mean") ?? ClipMean;
        var std = ReadTriple(metadata, "aurous.image_std") ?? ClipStd;
        return new ImageEncoderModel(session, outputName, dims[2], dimension, mean, std);
    }

    /// <summary>rgb24 row-major S x S x 3 -> normalised planar [3, S, S], written into <paramref name="destination"/>.</summary>
    public void Preprocess(ReadOnlySpan<byte> rgb, Span<float> destination)
    {
        var plane = ImageSize * ImageSize;
        if (rgb.Length != plane * 3 || destination.Length != plane * 3)
        {
            throw new ArgumentException($"expected {plane * 3} RGB bytes for a {ImageSize}x{ImageSize} image, got {rgb.Length}");
        }
        var r = destination[..plane];
        var g = destination.Slice(plane, plane);
        var b = destination.Slice(2 * plane, plane);
        for (var p = 0; p < plane; p++)
        {
            r[p] = rgb[3 * p] * _scale[0] + _offset[0];
            g[p] = rgb[3 * p + 1] * _scale[1] + _offset[1];
            b[p] = rgb[3 * p + 2] * _scale[2] + _offset[2];
        }
    }

    public float[] Preprocess(ReadOnlySpan<byte> rgb)
    {
        var result = new float[3 * ImageSize * ImageSize];
        Preprocess(rgb, result);
        return result;
    }

    /// <summary>Encodes a batch of preprocessed images ([batch, 3, S, S] row-major); returns [batch, dimension].</summary>
    public float[] Encode(float[] pixelValues, int batch)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batch);
        if (pixelValues.Length != batch * 3 * ImageSize * ImageSize)
        {
            throw new ArgumentException($"pixel_values must hold batch*3*S*S = {batch * 3 * ImageSize * ImageSize} values.");
        }
        using var input = OrtValue.CreateTensorValueFromMemory(pixelValues, [batch, 3, ImageSize, ImageSize]);
        using var runOptions = new RunOptions();
        using var results = _session.Run(runOptions, [PixelValues], [input], [_outputName]);
        var shape = results[0].GetTensorTypeAndShape().Shape;
        if (shape.Length != 2 || shape[0] != batch)
        {
            throw new InvalidDataException($"output '{_outputName}' has shape [{string.Join(", ", shape)}], expected [{batch}, dimension]");
        }
        Dimension ??= (int)shape[1];
        return results[0].GetTensorDataAsSpan<float>().ToArray();
    }

    private static float[]? ReadTriple(Dictionary<string, string> metadata, string key)
    {
        if (!metadata.TryGetValue(key, out var text))
        {
            return null;
        }
        var parts = text.Split(',');
        var values = new float[3];
        if (parts.Length != 3 || parts.Where((p, i) => !float.TryParse(p, NumberStyles.Float, CultureInfo.InvariantCulture, out values[i])).Any())
        {
            throw new InvalidDataException($"model metadata '{key}' must be three comma-separated numbers, not '{text}'");
        }
        return values;
    }

    public void Dispose() => _session.Dispose();
}
