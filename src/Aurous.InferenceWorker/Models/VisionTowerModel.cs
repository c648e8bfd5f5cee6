using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Aurous.InferenceWorker.Models;

/// <summary>
/// A vision-language model's vision tower (a chat model's <c>vision</c> file, the onnxruntime-genai / optimum layout of
/// LLaVA- and Phi-3-vision-style exports): <c>pixel_values</c> float [num_images, 3, S, S] in (preprocessed by
/// <see cref="ImagePreprocessor"/>, as the embeddings' image encoder), <c>image_features</c> float
/// [num_images, tokens_per_image, hidden] out: rows already in the decoder's embedding space, one per image token.
/// Thread-safe.
/// </summary>
public sealed class VisionTowerModel : IDisposable
{
    public const string ImageFeatures = "image_features";

    private readonly InferenceSession _session;
    private readonly string[] _outputNames;

    private VisionTowerModel(InferenceSession session, string outputName, ImagePreprocessor preprocessor, int tokensPerImage, int hiddenSize)
    {
        _session = session;
        _outputNames = [outputName];
        Preprocessor = preprocessor;
        TokensPerImage = tokensPerImage;
        HiddenSize = hiddenSize;
    }

    public ImagePreprocessor Preprocessor { get; }
    /// <summary>Feature rows (image tokens in the prompt) per image.</summary>
    public int TokensPerImage { get; }
    /// <summary>Width of one feature row: the decoder's hidden size.</summary>
    public int HiddenSize { get; }
    public InferenceSession Session => _session;

    /// <summary>
    /// Wraps a vision session after checking it against the decoder: <paramref name="tokensPerImage"/> from config.json
    /// (null when it does not say; the output's fixed shape must then) and the decoder's <paramref name="hiddenSize"/>.
    /// </summary>
    public static VisionTowerModel Create(InferenceSession session, int? tokensPerImage, int hiddenSize)
    {
        ArgumentNullException.ThrowIfNull(session);
        if (session.InputMetadata.Count != 1)
        {
            throw new InvalidDataException($"a vision tower needs exactly one input '{ImagePreprocessor.PixelValues}'; this model has: {string.Join(", ", session.InputMetadata.Keys)}");
        }
        var preprocessor = ImagePreprocessor.ForSession(session);
        var outputs = session.OutputMetadata;
        var outputName = outputs.ContainsKey(ImageFeatures)
            ? ImageFeatures
            : outputs.Count == 1 ? outputs.Keys.Single() : throw new InvalidDataException($"a vision tower needs an output '{ImageFeatures}'; this model has: {string.Join(", ", outputs.Keys)}");
        var output = outputs[outputName];
        var dims = output.Dimensions;
        if (output.ElementDataType != TensorElementType.Float || dims.Length != 3 || (dims[2] > 0 && dims[2] != hiddenSize))
        {
            throw new InvalidDataException(
                $"vision output '{outputName}' is {output.ElementDataType} [{string.Join(", ", dims)}], expected float [num_images, tokens_per_image, {hiddenSize}] (the decoder's hidden size)");
        }
        if (dims[1] > 0 && tokensPerImage is { } configured && configured != dims[1])
        {
            throw new InvalidDataException($"config.json says {configured} tokens per image but the vision tower outputs {dims[1]}");
        }
        var tokens = tokensPerImage ?? (dims[1] > 0 ? (int)dims[1]
            : throw new InvalidDataException("the vision tower's output has no fixed token count and config.json's vision_config gives no tokens_per_image"));
        if (tokens <= 0)
        {
            throw new InvalidDataException($"tokens per image must be positive, not {tokens}");
        }
        return new VisionTowerModel(session, outputName, preprocessor, tokens, hiddenSize);
    }

    /// <summary>
    /// One batched run over preprocessed images (each [3, S, S], see <see cref="Preprocessor"/>); returns their features
    /// concatenated in order: [images x <see cref="TokensPerImage"/> x <see cref="HiddenSize"/>].
    /// </summary>
    public float[] Encode(IReadOnlyList<float[]> pixelValues, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(pixelValues);
        var n = pixelValues.Count;
        if (n == 0)
        {
            return [];
        }
        var per = Preprocessor.ValuesPerImage;
        var batch = new float[n * per];
        for (var i = 0; i < n; i++)
        {
            if (pixelValues[i]?.Length != per)
            {
                throw new ArgumentException($"image {i} has {pixelValues[i]?.Length ?? 0} values; a preprocessed image is 3 x {Preprocessor.ImageSize} x {Preprocessor.ImageSize} = {per}", nameof(pixelValues));
            }
            pixelValues[i].CopyTo(batch, i * per);
        }
        using var input = OrtValue.CreateTensorValueFromMemory(batch, [n, 3, Preprocessor.ImageSize, Preprocessor.ImageSize]);
        using var results = _session.RunCancellable([ImagePreprocessor.PixelValues], [input], _outputNames, cancellationToken);
        var shape = results[0].GetTensorTypeAndShape().Shape;
        if (shape.Length != 3 || shape[0] != n || shape[1] != TokensPerImage || shape[2] != HiddenSize)
        {
            throw new InvalidDataException($"image features have shape [{string.Join(", ", shape)}], expected [{n}, {TokensPerImage}, {HiddenSize}]");
        }
        return results[0].GetTensorDataAsSpan<float>().ToArray();
    }

    public void Dispose() => _session.Dispose();
}
