using System.Globalization;
using System.Text.Json;
using Aurous.ModelForge.Onnx;

namespace Aurous.ModelForge;

/// <summary>
/// The vision tower of <c>aurous-forge/tiny-decoder-v2</c> (role <c>vision</c>, <c>vision.onnx</c>), in the shape of a
/// VLM's vision export (onnxruntime-genai / optimum: one graph from pixels to features already in the decoder's
/// embedding space):
/// <code>
/// pixel_values    float [num_images, 3, 224, 224]   RGB, CLIP-normalised ((x/255 - mean) / std), as the embeddings' image encoder
/// image_features  float [num_images, 16, 64]        one row per visual token, in the decoder's hidden size
/// </code>
/// Graph: ViT-style patch embedding (Conv, kernel = stride = 56: a 4x4 grid, 16 patches of width 96) -> + learned
/// position embedding -> LayerNorm -> one pre-norm block (single-head self-attention over the 16 patches, then a
/// 96 -> 384 quick-GELU -> 96 MLP, each with a residual) -> LayerNorm -> projector 96 -> 64 (+ bias). Deterministic
/// weights; no skill, but different images give different features, and each patch's feature depends on all of them.
/// A prompt carries an image as <c>&lt;|vision_start|&gt;</c> + 16 x <c>&lt;|image_pad|&gt;</c> +
/// <c>&lt;|vision_end|&gt;</c>; the pads' embeddings are replaced by the 16 feature rows, in order.
/// </summary>
public static class TinyVisionTower
{
    public const string Role = "vision";
    public const string PixelValues = "pixel_values";
    public const string Output = "image_features";

    public const string VisionStart = "<|vision_start|>";
    public const string VisionEnd = "<|vision_end|>";
    public const string ImagePad = "<|image_pad|>";

    public const int ImageSize = 224;
    public const int PatchSize = 56;
    public const int Grid = ImageSize / PatchSize;
    public const int TokensPerImage = Grid * Grid;
    public const int Channels = 3;
    public const int Width = 96;
    public const int IntermediateSize = 384;
    public const int OutputSize = TinyDecoder.HiddenSize;
    public const float LayerNormEpsilon = 1e-5f;
    /// <summary>quick_gelu(x) = x * sigmoid(1.702 x), CLIP's activation.</summary>
    public const float QuickGeluAlpha = 1.702f;
    public const ulong Seed = 0xA0_2E_C0DE_0002UL;

    public sealed record Weights(
        float[] PatchWeight, float[] PatchBias, float[] PositionEmbedding,
        float[] Query, float[] Key, float[] Value, float[] Output,
        float[] MlpIn, float[] MlpInBias, float[] MlpOut,
        float[] Projection, float[] ProjectionBias);

    public static Weights CreateWeights()
    {
        var random = new DeterministicRandom(Seed);
        // As in the decoder: sqrt(3/n) gives unit-variance outputs for n unit-variance inputs (normalised pixels,
        // LayerNorm outputs), so the features land at the scale of the decoder's token embeddings.
        var square = MathF.Sqrt(3f / Width);
        return new Weights(
            PatchWeight: random.Fill(Width * Channels * PatchSize * PatchSize, MathF.Sqrt(3f / (Channels * PatchSize * PatchSize))),
            PatchBias: random.Fill(Width, 0.1f),
            PositionEmbedding: random.Fill(TokensPerImage * Width, 1f),
            // Query and key at twice the unit scale so that attention is peaked rather than a plain average of patches.
            Query: random.Fill(Width * Width, 2f * square),
            Key: random.Fill(Width * Width, 2f * square),
            Value: random.Fill(Width * Width, square),
            Output: random.Fill(Width * Width, square),
            MlpIn: random.Fill(Width * IntermediateSize, square),
            MlpInBias: random.Fill(IntermediateSize, 0.5f),
            MlpOut: random.Fill(IntermediateSize * Width, MathF.Sqrt(3f / IntermediateSize) * 2f),
            Projection: random.Fill(Width * OutputSize, square),
            ProjectionBias: random.Fill(OutputSize, 0.1f));
    }

    public static OnnxModel BuildModel(string modelId, string generatorName)
    {
        var w = CreateWeights();
        var g = new GraphBuilder();
        g.Int64s("shape_patch_tokens", [3], [0, Width, TokensPerImage]);
        g.Floats("attention_scale", [], [1f / MathF.Sqrt(Width)]);
        g.Floats("quick_gelu_alpha", [], [QuickGeluAlpha]);
        g.Floats("ln_weight", [Width], Enumerable.Repeat(1f, Width).ToArray());
        g.Floats("ln_bias", [Width], new float[Width]);
        g.Floats("patch_embed.weight", [Width, Channels, PatchSize, PatchSize], w.PatchWeight);
        g.Floats("patch_embed.bias", [Width], w.PatchBias);
        g.Floats("position_embedding", [TokensPerImage, Width], w.PositionEmbedding);
        g.Floats("block.q_proj", [Width, Width], w.Query);
        g.Floats("block.k_proj", [Width, Width], w.Key);
        g.Floats("block.v_proj", [Width, Width], w.Value);
        g.Floats("block.o_proj", [Width, Width], w.Output);
        g.Floats("block.mlp.fc1", [Width, IntermediateSize], w.MlpIn);
        g.Floats("block.mlp.fc1_bias", [IntermediateSize], w.MlpInBias);
        g.Floats("block.mlp.fc2", [IntermediateSize, Width], w.MlpOut);
        g.Floats("projector.weight", [Width, OutputSize], w.Projection);
        g.Floats("projector.bias", [OutputSize], w.ProjectionBias);

        // [n, 3, 224, 224] -> [n, 96, 4, 4] -> [n, 96, 16] -> [n, 16, 96]: one token per patch, row-major over the grid.
        var patches = g.Node("Conv", [PixelValues, "patch_embed.weight", "patch_embed.bias"], "patches",
            OnnxAttribute.Ints("kernel_shape", PatchSize, PatchSize), OnnxAttribute.Ints("strides", PatchSize, PatchSize));
        var tokens = g.Node("Transpose", [g.Node("Reshape", [patches, "shape_patch_tokens"], "patches_flat")], "patch_tokens", OnnxAttribute.Ints("perm", 0, 2, 1));
        var x = LayerNorm(g, g.Node("Add", [tokens, "position_embedding"], "embedded"), "pre_layernorm");

        var h = LayerNorm(g, x, "block.layernorm1");
        var q = g.Node("MatMul", [h, "block.q_proj"], "block.q");
        var k = g.Node("MatMul", [h, "block.k_proj"], "block.k");
        var v = g.Node("MatMul", [h, "block.v_proj"], "block.v");
        var scores = g.Node("Mul",
            [g.Node("MatMul", [q, g.Node("Transpose", [k], "block.k_t", OnnxAttribute.Ints("perm", 0, 2, 1))], "block.scores_raw"), "attention_scale"],
            "block.scores");
        var probs = g.Node("Softmax", [scores], "block.probs", OnnxAttribute.Int("axis", -1));
        var context = g.Node("MatMul", [probs, v], "block.context");
        x = g.Node("Add", [x, g.Node("MatMul", [context, "block.o_proj"], "block.attn_out")], "block.resid_attn");

        var m = LayerNorm(g, x, "block.layernorm2");
        var up = g.Node("Add", [g.Node("MatMul", [m, "block.mlp.fc1"], "block.mlp_up_raw"), "block.mlp.fc1_bias"], "block.mlp_up");
        var gate = g.Node("Sigmoid", [g.Node("Mul", [up, "quick_gelu_alpha"], "block.mlp_up_scaled")], "block.mlp_gate");
        var act = g.Node("Mul", [up, gate], "block.mlp_act");
        x = g.Node("Add", [x, g.Node("MatMul", [act, "block.mlp.fc2"], "block.mlp_out")], "block.resid_mlp");

        var final = LayerNorm(g, x, "post_layernorm");
        g.Node("Add", [g.Node("MatMul", [final, "projector.weight"], "projected"), "projector.bias"], Output);

        OnnxDim images = "num_images";
        var inv = CultureInfo.InvariantCulture;
        return OnnxModel.Forged(new OnnxGraph(
            "tiny_vision_tower_v1",
            g.Nodes,
            [new(PixelValues, OnnxDataType.Float, [images, Channels, ImageSize, ImageSize])],
            [new(Output, OnnxDataType.Float, [images, TokensPerImage, OutputSize])],
            g.Initializers),
            "Tiny deterministic vision tower", generatorName, modelId,
            [
                .. TinyImageEncoderV1.PreprocessingMetadata(ImageSize),
                new("aurous.patch_size", PatchSize.ToString(inv)),
                new("aurous.tokens_per_image", TokensPerImage.ToString(inv)),
            ]);
    }

    /// <summary>config.json's <c>vision_config</c>: what a loader needs to lay out an image's tokens and check the tower.</summary>
    public static void WriteConfig(Utf8JsonWriter w)
    {
        w.WriteStartObject("vision_config");
        w.WriteString("model_type", "aurous_tiny_vision");
        w.WriteNumber("image_size", ImageSize);
        w.WriteNumber("patch_size", PatchSize);
        w.WriteNumber("num_channels", Channels);
        w.WriteNumber("hidden_size", Width);
        w.WriteNumber("intermediate_size", IntermediateSize);
        w.WriteNumber("num_hidden_layers", 1);
        w.WriteNumber("num_attention_heads", 1);
        w.WriteString("hidden_act", "quick_gelu");
        w.WriteNumber("out_hidden_size", OutputSize);
        w.WriteNumber("tokens_per_image", TokensPerImage);
        w.WriteEndObject();
    }

    private static string LayerNorm(GraphBuilder g, string input, string name) => g.LayerNorm(input, "ln_weight", "ln_bias", LayerNormEpsilon, name);
}
