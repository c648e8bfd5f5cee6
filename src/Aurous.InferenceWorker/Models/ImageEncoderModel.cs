using Microsoft.ML.OnnxRuntime;

namespace Aurous.InferenceWorker.Models;

/// <summary>
/// An image encoder session (a model's <c>image_encoder</c> file): <c>pixel_values</c> float [batch, 3, S, S] in
/// (normalised RGB, see <see cref="ImagePreprocessor"/>), one embedding per image out. Thread-safe.
/// </summary>
public sealed class ImageEncoderModel : IDisposable
{
    public const string PixelValues = ImagePreprocessor.PixelValues;
    private static readonly string[] PreferredOutputs = ["embeddings", "image_embeds", "pooler_output"];

    private readonly InferenceSession _session;
    private readonly string _outputName;

    private ImageEncoderModel(InferenceSession session, string outputName, ImagePreprocessor preprocessor, int? dimension)
    {
        _session = session;
        _outputName = outputName;
        Preprocessor = preprocessor;
        Dimension = dimension;
    }

    /// <summary>How an image becomes this encoder's input (side, normalisation).</summary>
    public ImagePreprocessor Preprocessor { get; }
    /// <summary>Side of the square input (S).</summary>
    public int ImageSize => Preprocessor.ImageSize;
    public int? Dimension { get; private set; }
    public InferenceSession Session => _session;

    public static ImageEncoderModel Create(InferenceSession session)
    {
        if (!session.InputMetadata.ContainsKey(PixelValues) || session.InputMetadata.Count != 1)
        {
            throw new InvalidDataException($"an image encoder needs exactly one input '{PixelValues}'; this model has: {string.Join(", ", session.InputMetadata.Keys)}");
        }
        var preprocessor = ImagePreprocessor.ForSession(session);
        var output = EmbeddingOutput.Find(session, PreferredOutputs, "an image encoder");
        return new ImageEncoderModel(session, output.Name, preprocessor, output.Dimension);
    }

    /// <summary>rgb24 row-major S x S x 3 -> normalised planar [3, S, S], written into <paramref name="destination"/>.</summary>
    public void Preprocess(ReadOnlySpan<byte> rgb, Span<float> destination) => Preprocessor.Normalize(rgb, destination);

    public float[] Preprocess(ReadOnlySpan<byte> rgb) => Preprocessor.Normalize(rgb);

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

    public void Dispose() => _session.Dispose();
}
