using Aurous.ModelForge.Onnx;
using Aurous.Models;

namespace Aurous.ModelForge;

/// <summary>
/// <c>aurous-forge/tiny-text-encoder-v1</c>: a text encoder in the shape of a real embedding export.
/// <code>
/// input_ids      int64 [batch, sequence]   GPT-2 BPE ids (vocabulary 50257)
/// attention_mask int64 [batch, sequence]   1 for tokens, 0 for padding
/// embeddings     float [batch, 2048]       L2-normalised
/// </code>
/// Graph: Gather(token_embedding[50257, 64]) -> attention-mask-weighted mean over the sequence -> MatMul(projection[64, 2048])
/// -> divide by max(L2 norm, 1e-12). Weights come from a seeded <see cref="DeterministicRandom"/>. It has no semantic skill
/// at all; it exists so the hosting, batching and billing code runs on the same tensors a real model would take.
/// </summary>
public sealed class TinyTextEncoderV1 : IModelGenerator
{
    public const string GeneratorName = "aurous-forge/tiny-text-encoder-v1";
    public const string Role = "text_encoder";
    public const int VocabularySize = 50257;
    public const int HiddenSize = 64;
    public const int OutputDimension = 2048;
    public const ulong Seed = 0x4155524F5553_0001UL; // "AUROUS" v1
    public const float MinTokenCount = 1e-9f;
    public const float MinNorm = 1e-12f;

    public const string InputIds = "input_ids";
    public const string AttentionMask = "attention_mask";
    public const string Output = "embeddings";

    public string Name => GeneratorName;

    public IReadOnlyCollection<string> Roles { get; } = [Role];

    /// <summary>The weights, in generation order: token embedding [vocab, hidden] then projection [hidden, output].</summary>
    public static (float[] TokenEmbedding, float[] Projection) CreateWeights(int hiddenSize = HiddenSize)
    {
        var random = new DeterministicRandom(Seed);
        var embedding = random.Fill(VocabularySize * hiddenSize, 1f);
        var projection = random.Fill(hiddenSize * OutputDimension, 1f / MathF.Sqrt(hiddenSize));
        return (embedding, projection);
    }

    public byte[] Generate(ModelManifest manifest, string role)
    {
        if (role != Role)
        {
            throw new InvalidOperationException($"Generator '{Name}' writes only the '{Role}' file, but model '{manifest.Id}' asks it for '{role}'.");
        }
        if (manifest.Kind != ModelKind.Embedding)
        {
            throw new InvalidOperationException($"Generator '{Name}' makes embedding models, but model '{manifest.Id}' is of kind {manifest.Kind}.");
        }
        if (manifest.NativeDimension is { } native && native != OutputDimension)
        {
            throw new InvalidOperationException($"Generator '{Name}' outputs {OutputDimension} dimensions, but model '{manifest.Id}' declares native_dimension {native}.");
        }
        return OnnxWriter.Serialize(BuildModel(manifest.Id));
    }

    /// <param name="hiddenSize">Width of the token embedding; the generated model uses <see cref="HiddenSize"/>. Wider
    /// variants (e.g. 384, a MiniLM-sized tower) exist for benchmarks whose per-run cost should resemble a real encoder's.</param>
    public static OnnxModel BuildModel(string modelId, int hiddenSize = HiddenSize)
    {
        var (embedding, projection) = CreateWeights(hiddenSize);
        OnnxDim batch = "batch", sequence = "sequence";
        var graph = new OnnxGraph(
            Name: "tiny_text_encoder_v1",
            Nodes:
            [
                new("Gather", ["token_embedding", InputIds], ["token_states"], "embed") { Attributes = [OnnxAttribute.Int("axis", 0)] },
                new("Cast", [AttentionMask], ["mask_f"], "mask_to_float") { Attributes = [OnnxAttribute.Int("to", (long)OnnxDataType.Float)] },
                new("Unsqueeze", ["mask_f", "axis_last"], ["mask_3d"], "mask_unsqueeze"),
                new("Mul", ["token_states", "mask_3d"], ["masked_states"], "apply_mask"),
                new("ReduceSum", ["masked_states", "axis_sequence"], ["summed"], "sum_tokens") { Attributes = [OnnxAttribute.Int("keepdims", 0)] },
                new("ReduceSum", ["mask_f", "axis_sequence"], ["token_count"], "count_tokens") { Attributes = [OnnxAttribute.Int("keepdims", 1)] },
                new("Max", ["token_count", "min_token_count"], ["safe_count"], "clamp_count"),
                new("Div", ["summed", "safe_count"], ["pooled"], "mean_pool"),
                new("MatMul", ["pooled", "projection"], ["projected"], "project"),
                new("ReduceL2", ["projected"], ["norm"], "l2_norm") { Attributes = [OnnxAttribute.Ints("axes", 1), OnnxAttribute.Int("keepdims", 1)] },
                new("Max", ["norm", "min_norm"], ["safe_norm"], "clamp_norm"),
                new("Div", ["projected", "safe_norm"], [Output], "normalise"),
            ],
            Inputs:
            [
                new(InputIds, OnnxDataType.Int64, [batch, sequence]),
                new(AttentionMask, OnnxDataType.Int64, [batch, sequence]),
            ],
            Outputs:
            [
                new(Output, OnnxDataType.Float, [batch, OutputDimension]),
            ],
            Initializers:
            [
                OnnxTensor.FromFloats("token_embedding", [VocabularySize, hiddenSize], embedding),
                OnnxTensor.FromFloats("projection", [hiddenSize, OutputDimension], projection),
                OnnxTensor.FromInt64s("axis_last", [1], [2]),
                OnnxTensor.FromInt64s("axis_sequence", [1], [1]),
                OnnxTensor.FromFloats("min_token_count", [], [MinTokenCount]),
                OnnxTensor.FromFloats("min_norm", [], [MinNorm]),
            ]);
        return new OnnxModel(graph)
        {
            DocString = $"Tiny deterministic text encoder generated by {GeneratorName} for {modelId}. Not a trained model.",
            Metadata =
            [
                new("aurous.generator", GeneratorName),
                new("aurous.model_id", modelId),
                new("aurous.tokenizer", "gpt2-bpe"),
                new("aurous.vocabulary_size", VocabularySize.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                new("aurous.pooling", "attention_mask_mean"),
                new("aurous.normalized", "l2"),
            ],
        };
    }
}
