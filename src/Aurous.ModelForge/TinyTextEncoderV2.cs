using System.Globalization;
using Aurous.ModelForge.Onnx;
using Aurous.Models;

namespace Aurous.ModelForge;

/// <summary>
/// <c>aurous-forge/tiny-text-encoder-v2</c>: a text encoder in the shape of a real embedding export, with a small MLP
/// head after the mean pooling so that, as in a real encoder, most of the compute is dense matrix work whose cost per
/// run amortises over a batch (a single 64x2048 projection was so cheap that per-run overhead dominated).
/// <code>
/// input_ids      int64 [batch, sequence]   GPT-2 BPE ids (vocabulary 50257)
/// attention_mask int64 [batch, sequence]   1 for tokens, 0 for padding
/// embeddings     float [batch, 2048]       L2-normalised
/// </code>
/// Graph: Gather(token_embedding[50257, 64]) -> attention-mask-weighted mean over the sequence -> MatMul(head_in[64, H])
/// -> Tanh -> MatMul(head_out[H, 2048]) -> divide by max(L2 norm, 1e-12), with H = <see cref="HeadWidth"/>. No biases, so
/// an all-padding row still maps to the zero vector. Weights come from a seeded <see cref="DeterministicRandom"/>. No
/// semantic skill at all: it exists so the hosting, batching and billing code runs on the tensors a real model takes.
/// </summary>
public sealed class TinyTextEncoderV2 : IModelGenerator
{
    public const string GeneratorName = "aurous-forge/tiny-text-encoder-v2";
    public const string Role = "text_encoder";
    public const int VocabularySize = 50257;
    public const int HiddenSize = 64;
    /// <summary>Width of the MLP head: 1.6 M multiply-adds per item, 6.5 MB of head weights. Tuned with
    /// bench/Aurous.Bench.Batching on a 2-core CPU at 32 clients: 768 gave the steadiest batched/unbatched ratio over
    /// repeated runs (3.7-3.8x; 512 and 1024 ranged 3.0-3.7x, 2048 ~2.9x, no head ~2x) at ~0.05 ms per unbatched
    /// request.</summary>
    public const int HeadWidth = 768;
    public const int OutputDimension = 2048;
    public const ulong Seed = 0x4155524F5553_0001UL; // "AUROUS" 1
    public const float MinTokenCount = 1e-9f;
    public const float MinNorm = 1e-12f;

    public const string InputIds = "input_ids";
    public const string AttentionMask = "attention_mask";
    public const string Output = "embeddings";

    public string Name => GeneratorName;

    public IReadOnlyCollection<string> Roles { get; } = [Role];

    /// <summary>The weights, in generation order: token embedding [vocab, 64], head_in [64, H], head_out [H, 2048].</summary>
    public static (float[] TokenEmbedding, float[] HeadIn, float[] HeadOut) CreateWeights(int headWidth = HeadWidth)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(headWidth, 1);
        var random = new DeterministicRandom(Seed);
        var embedding = random.Fill(VocabularySize * HiddenSize, 1f);
        // Pooled features are ~U(-1, 1) / sqrt(tokens); 3/sqrt(64) puts a one-token pre-activation at std ~0.6, so
        // Tanh is visibly non-linear for short texts and near-linear for long ones.
        var headIn = random.Fill(HiddenSize * headWidth, 3f / MathF.Sqrt(HiddenSize));
        var headOut = random.Fill(headWidth * OutputDimension, 1f / MathF.Sqrt(headWidth));
        return (embedding, headIn, headOut);
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

    /// <param name="headWidth">Width of the MLP head; the generated model uses <see cref="HeadWidth"/> (other widths are
    /// for benchmarks).</param>
    public static OnnxModel BuildModel(string modelId, int headWidth = HeadWidth, string generatorName = GeneratorName)
    {
        var (embedding, headIn, headOut) = CreateWeights(headWidth);
        OnnxDim batch = "batch", sequence = "sequence";
        var graph = new OnnxGraph(
            Name: "tiny_text_encoder_v2",
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
                new("MatMul", ["pooled", "head_in"], ["head_pre"], "head_in"),
                new("Tanh", ["head_pre"], ["head_act"], "head_act"),
                new("MatMul", ["head_act", "head_out"], ["projected"], "head_out"),
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
                OnnxTensor.FromFloats("token_embedding", [VocabularySize, HiddenSize], embedding),
                OnnxTensor.FromFloats("head_in", [HiddenSize, headWidth], headIn),
                OnnxTensor.FromFloats("head_out", [headWidth, OutputDimension], headOut),
                OnnxTensor.FromInt64s("axis_last", [1], [2]),
                OnnxTensor.FromInt64s("axis_sequence", [1], [1]),
                OnnxTensor.FromFloats("min_token_count", [], [MinTokenCount]),
                OnnxTensor.FromFloats("min_norm", [], [MinNorm]),
            ]);
        return new OnnxModel(graph)
        {
            ProducerVersion = "2",
            DocString = $"Tiny deterministic text encoder generated by {generatorName} for {modelId}. Not a trained model.",
            Metadata =
            [
                new("aurous.generator", generatorName),
                new("aurous.model_id", modelId),
                new("aurous.tokenizer", "gpt2-bpe"),
                new("aurous.vocabulary_size", VocabularySize.ToString(CultureInfo.InvariantCulture)),
                new("aurous.pooling", "attention_mask_mean"),
                new("aurous.head", $"matmul{HiddenSize}x{headWidth}-tanh-matmul{headWidth}x{OutputDimension}"),
                new("aurous.normalized", "l2"),
            ],
        };
    }
}
