using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Aurous.InferenceWorker.Models;

/// <summary>The output an encoder's embeddings come from: a float [batch, dimension] tensor, preferably by a known name.</summary>
internal readonly record struct EmbeddingOutput(string Name, int? Dimension)
{
    /// <summary>
    /// The first of <paramref name="preferred"/> the session has, else its first float output of rank 2. The dimension is
    /// null when the model declares it symbolic (it is known after the first run). <paramref name="encoder"/> names the
    /// encoder in the error ("a text encoder").
    /// </summary>
    public static EmbeddingOutput Find(InferenceSession session, IReadOnlyList<string> preferred, string encoder)
    {
        var outputs = session.OutputMetadata;
        var name = preferred.FirstOrDefault(outputs.ContainsKey)
            ?? outputs.FirstOrDefault(o => o.Value.ElementDataType == TensorElementType.Float && o.Value.Dimensions.Length == 2).Key
            ?? throw new InvalidDataException($"{encoder} needs a float [batch, dimension] output; this model has: {string.Join(", ", outputs.Keys)}");
        var declared = outputs[name].Dimensions;
        return new EmbeddingOutput(name, declared.Length == 2 && declared[1] > 0 ? declared[1] : null);
    }
}
