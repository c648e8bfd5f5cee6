using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Aurous.InferenceWorker.Models;

/// <summary>
/// A text encoder session (a model's <c>text_encoder</c> file): <c>input_ids</c> + <c>attention_mask</c> (int64
/// [batch, sequence]) in, one embedding per row out. Works for our generated model and for a real export with the same
/// names; <c>token_type_ids</c>, when a model has it, is fed zeros. Thread-safe: ONNX Runtime sessions allow
/// concurrent <c>Run</c> calls.
/// </summary>
public sealed class TextEncoderModel : IDisposable
{
    public const string InputIds = "input_ids";
    public const string AttentionMask = "attention_mask";
    public const string TokenTypeIds = "token_type_ids";
    private static readonly string[] PreferredOutputs = ["embeddings", "sentence_embedding", "text_embeds", "pooler_output"];

    private readonly InferenceSession _session;
    private readonly bool _hasTokenTypeIds;
    private readonly string _outputName;

    private TextEncoderModel(InferenceSession session, bool hasTokenTypeIds, string outputName, int? dimension)
    {
        _session = session;
        _hasTokenTypeIds = hasTokenTypeIds;
        _outputName = outputName;
        Dimension = dimension;
    }

    /// <summary>Output dimension as declared by the model (null when symbolic; known after the first run).</summary>
    public int? Dimension { get; private set; }

    public InferenceSession Session => _session;

    /// <summary>Wraps a session after checking that it has the inputs and output of a text encoder.</summary>
    public static TextEncoderModel Create(InferenceSession session)
    {
        var inputs = session.InputMetadata;
        foreach (var name in new[] { InputIds, AttentionMask })
        {
            if (!inputs.TryGetValue(name, out var meta))
            {
                throw new InvalidDataException(
                    $"a text encoder needs inputs '{InputIds}' and '{AttentionMask}'; this model has: {string.Join(", ", inputs.Keys)}");
            }
            if (meta.ElementDataType != TensorElementType.Int64 || meta.Dimensions.Length != 2)
            {
                throw new InvalidDataException($"input '{name}' must be int64 [batch, sequence], not {meta.ElementDataType} of rank {meta.Dimensions.Length}");
            }
        }
        var extra = inputs.Keys.Except([InputIds, AttentionMask, TokenTypeIds]).ToArray();
        if (extra.Length > 0)
        {
            throw new InvalidDataException($"unexpected text encoder inputs: {string.Join(", ", extra)}");
        }
        var output = EmbeddingOutput.Find(session, PreferredOutputs, "a text encoder");
        return new TextEncoderModel(session, inputs.ContainsKey(TokenTypeIds), output.Name, output.Dimension);
    }

    /// <summary>
    /// Encodes a padded batch. <paramref name="inputIds"/> and <paramref name="attentionMask"/> are row-major
    /// [batch, sequence]; returns row-major [batch, dimension].
    /// </summary>
    public float[] Encode(long[] inputIds, long[] attentionMask, int batch, int sequence)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batch);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(sequence);
        if (inputIds.Length != batch * sequence || attentionMask.Length != batch * sequence)
        {
            throw new ArgumentException($"input_ids and attention_mask must each hold batch*sequence = {batch * sequence} values.");
        }
        long[] shape = [batch, sequence];
        var names = new List<string> { InputIds, AttentionMask };
        using var ids = OrtValue.CreateTensorValueFromMemory(inputIds, shape);
        using var mask = OrtValue.CreateTensorValueFromMemory(attentionMask, shape);
        using var types = _hasTokenTypeIds ? OrtValue.CreateTensorValueFromMemory(new long[inputIds.Length], shape) : null;
        var values = new List<OrtValue> { ids, mask };
        if (types is not null)
        {
            names.Add(TokenTypeIds);
            values.Add(types);
        }
        using var runOptions = new RunOptions();
        using var results = _session.Run(runOptions, names, values, [_outputName]);
        var output = results[0];
        var outShape = output.GetTensorTypeAndShape().Shape;
        if (outShape.Length != 2 || outShape[0] != batch)
        {
            throw new InvalidDataException($"output '{_outputName}' has shape [{string.Join(", ", outShape)}], expected [{batch}, dimension]");
        }
        Dimension ??= (int)outShape[1];
        return output.GetTensorDataAsSpan<float>().ToArray();
    }

    public void Dispose() => _session.Dispose();
}
