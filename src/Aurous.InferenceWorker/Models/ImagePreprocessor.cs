using System.Globalization;
using Aurous.InferenceWorker.Media;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Aurous.InferenceWorker.Models;

/// <summary>
/// How an image becomes one row of a model's <c>pixel_values</c>: ffmpeg decodes it to S x S rgb24 (scale to cover, centre
/// crop: <see cref="FfmpegDecoder.DecodeImageAsync"/>), then each channel is normalised ((x / 255 - mean) / std) into
/// planar [3, S, S]. S is the model's fixed input side; mean and std come from the model's metadata
/// (<c>aurous.image_mean</c> / <c>aurous.image_std</c>), CLIP's values otherwise. One implementation for every image
/// tower the worker runs (the embeddings' image encoder, a chat model's vision tower), so an image means the same
/// pixels to both. Immutable and thread-safe.
/// </summary>
public sealed class ImagePreprocessor
{
    public const string PixelValues = "pixel_values";
    private static readonly float[] ClipMean = [0.48145466f, 0.4578275f, 0.40821073f];
    private static readonly float[] ClipStd = [0.26862954f, 0.26130258f, 0.27577711f];

    private readonly float[] _scale;
    private readonly float[] _offset;

    private ImagePreprocessor(int imageSize, float[] mean, float[] std)
    {
        ImageSize = imageSize;
        // (x / 255 - mean) / std == x * scale + offset
        _scale = std.Select(s => 1f / (255f * s)).ToArray();
        _offset = mean.Zip(std, (m, s) => -m / s).ToArray();
    }

    /// <summary>Side of the square input (S).</summary>
    public int ImageSize { get; }

    /// <summary>Floats in one preprocessed image (3 x S x S).</summary>
    public int ValuesPerImage => 3 * ImageSize * ImageSize;

    /// <summary>
    /// The preprocessing of a session whose <c>pixel_values</c> input is float [batch, 3, S, S] with a fixed S (the
    /// shape every CLIP / ViT export declares); throws <see cref="InvalidDataException"/> for any other.
    /// </summary>
    public static ImagePreprocessor ForSession(InferenceSession session)
    {
        ArgumentNullException.ThrowIfNull(session);
        if (!session.InputMetadata.TryGetValue(PixelValues, out var input))
        {
            throw new InvalidDataException($"an image model needs an input '{PixelValues}'; this model has: {string.Join(", ", session.InputMetadata.Keys)}");
        }
        var dims = input.Dimensions;
        if (input.ElementDataType != TensorElementType.Float || dims.Length != 4 || dims[1] != 3 || dims[2] <= 0 || dims[2] != dims[3])
        {
            throw new InvalidDataException($"input '{PixelValues}' must be float [batch, 3, S, S] with a fixed S, not {input.ElementDataType} [{string.Join(", ", dims)}]");
        }
        var metadata = session.ModelMetadata.CustomMetadataMap;
        return new ImagePreprocessor(dims[2], ReadTriple(metadata, "aurous.image_mean") ?? ClipMean, ReadTriple(metadata, "aurous.image_std") ?? ClipStd);
    }

    /// <summary>rgb24 row-major S x S x 3 -> normalised planar [3, S, S], written into <paramref name="destination"/>.</summary>
    public void Normalize(ReadOnlySpan<byte> rgb, Span<float> destination)
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

    public float[] Normalize(ReadOnlySpan<byte> rgb)
    {
        var result = new float[ValuesPerImage];
        Normalize(rgb, result);
        return result;
    }

    /// <summary>
    /// Fetched image bytes (any format ffmpeg reads) -> one preprocessed image [3, S, S]. Throws
    /// <see cref="MediaException"/> (<c>media_decode_failed</c>) for bytes that are not an image, and
    /// <see cref="MediaDecoderUnavailableException"/> when ffmpeg cannot be started.
    /// </summary>
    public async Task<float[]> DecodeAsync(FfmpegDecoder decoder, byte[] image, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(decoder);
        return Normalize(await decoder.DecodeImageAsync(image, ImageSize, cancellationToken));
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
}
