using System.Globalization;
using Aurous.ModelForge.Onnx;
using static Aurous.ModelForge.TinyDecoder;

namespace Aurous.ModelForge;

/// <summary>The ONNX graphs of the tiny decoder (<see cref="TinyDecoder"/> describes their signature and architecture).</summary>
public static class TinyDecoderGraph
{
    public static OnnxModel BuildModel(TinyDecoderVariant variant, string modelId, string generatorName)
    {
        var vocabularySize = variant.VocabularySize;
        var w = CreateWeights(vocabularySize);
        var g = new GraphBuilder();
        OnnxDim batch = "batch_size", sequence = "sequence_length", past = "past_sequence_length", total = "total_sequence_length";

        // Constants.
        g.Int64s("axes_0", [1], [0]);
        g.Int64s("axes_1", [1], [1]);
        g.Int64s("axes_2", [1], [2]);
        g.Int64s("axes_1_2", [2], [1, 2]);
        g.Int64s("index_1", [], [1]);
        g.Int64s("zero", [], [0]);
        g.Int64s("one", [], [1]);
        g.Int64s("shape_bshd", [4], [0, 0, NumHeads, HeadDim]);
        g.Int64s("shape_bsd", [3], [0, 0, HiddenSize]);
        g.Floats("attention_scale", [], [1f / MathF.Sqrt(HeadDim)]);
        g.Floats("masked_score", [], [MaskedScore]);
        g.Floats("ln_weight", [HiddenSize], Enumerable.Repeat(1f, HiddenSize).ToArray());
        g.Floats("ln_bias", [HiddenSize], new float[HiddenSize]);
        var inverseFrequency = new float[HeadDim / 2];
        for (var i = 0; i < inverseFrequency.Length; i++)
        {
            inverseFrequency[i] = 1f / MathF.Pow(RopeTheta, 2f * i / HeadDim);
        }
        g.Floats("rope_inv_freq", [HeadDim / 2], inverseFrequency);
        g.Floats("embed_tokens", [vocabularySize, HiddenSize], w.TokenEmbedding);
        g.Floats("output_rotation", [HiddenSize, HiddenSize], w.OutputRotation);
        g.Floats("logit_bias", [vocabularySize], w.LogitBias);

        // Token embedding: in the graph, or already done by the caller (embeddings graph, maybe with image features spliced in).
        var (x, tokensIn, tokensShape) = variant.Input == DecoderInput.InputIds
            ? (g.Node("Gather", ["embed_tokens", InputIds], "embed", OnnxAttribute.Int("axis", 0)), InputIds, "ids_shape")
            : (InputsEmbeds, InputsEmbeds, "embeds_shape");

        // Lengths: past = total - new.
        var seqLen = g.Node("Gather", [g.Node("Shape", [tokensIn], tokensShape), "index_1"], "seq_len", OnnxAttribute.Int("axis", 0));
        var totalLen = g.Node("Gather", [g.Node("Shape", [AttentionMask], "mask_shape"), "index_1"], "total_len", OnnxAttribute.Int("axis", 0));
        var pastLen = g.Node("Sub", [totalLen, seqLen], "past_len");

        // allowed[b, 0, i, j] = key j is not in query i's future (j <= past + i) and attention_mask[b, j] == 1.
        var queryPositions = g.Node("Range", [pastLen, totalLen, "one"], "query_positions");
        var keyPositions = g.Node("Range", ["zero", totalLen, "one"], "key_positions");
        var causal = g.Node("LessOrEqual",
            [g.Node("Unsqueeze", [keyPositions, "axes_0"], "key_positions_row"), g.Node("Unsqueeze", [queryPositions, "axes_1"], "query_positions_col")],
            "causal");
        var padding = g.Node("Unsqueeze", [g.Node("Cast", [AttentionMask], "mask_bool", OnnxAttribute.Int("to", 9)), "axes_1_2"], "mask_4d");
        var allowed = g.Node("And", [causal, padding], "allowed");

        // Rotary embedding angles: [batch, 1, seq, head_dim / 2].
        var angles = g.Node("Mul",
            [g.Node("Unsqueeze", [g.Node("Cast", [PositionIds], "positions_f", OnnxAttribute.Int("to", (long)OnnxDataType.Float)), "axes_2"], "positions_3d"), "rope_inv_freq"],
            "rope_angles");
        var cos = g.Node("Unsqueeze", [g.Node("Cos", [angles], "rope_cos_3d"), "axes_1"], "rope_cos");
        var sin = g.Node("Unsqueeze", [g.Node("Sin", [angles], "rope_sin_3d"), "axes_1"], "rope_sin");

        for (var l = 0; l < NumLayers; l++)
        {
            var p = $"layers.{l}.";
            var lw = w.Layers[l];
            g.Floats(p + "q_proj", [HiddenSize, HiddenSize], lw.Query);
            g.Floats(p + "k_proj", [HiddenSize, HiddenSize], lw.Key);
            g.Floats(p + "v_proj", [HiddenSize, HiddenSize], lw.Value);
            g.Floats(p + "o_proj", [HiddenSize, HiddenSize], lw.Output);
            g.Floats(p + "mlp.up", [HiddenSize, IntermediateSize], lw.MlpIn);
            g.Floats(p + "mlp.up_bias", [IntermediateSize], lw.MlpInBias);
            g.Floats(p + "mlp.down", [IntermediateSize, HiddenSize], lw.MlpOut);

            var h = LayerNorm(g, x, p + "input_layernorm");
            string Heads(string projection, string name) =>
                g.Node("Transpose", [g.Node("Reshape", [g.Node("MatMul", [h, p + projection], p + name), "shape_bshd"], p + name + "_bshd")],
                    p + name + "_bhsd", OnnxAttribute.Ints("perm", 0, 2, 1, 3));
            var q = Rotary(g, Heads("q_proj", "q"), cos, sin, p + "q_rot");
            var k = Rotary(g, Heads("k_proj", "k"), cos, sin, p + "k_rot");
            var v = Heads("v_proj", "v");
            g.Node("Concat", [PastKey(l), k], PresentKey(l), OnnxAttribute.Int("axis", 2));
            g.Node("Concat", [PastValue(l), v], PresentValue(l), OnnxAttribute.Int("axis", 2));

            var keysT = g.Node("Transpose", [PresentKey(l)], p + "k_t", OnnxAttribute.Ints("perm", 0, 1, 3, 2));
            var scores = g.Node("Mul", [g.Node("MatMul", [q, keysT], p + "scores_raw"), "attention_scale"], p + "scores");
            var masked = g.Node("Where", [allowed, scores, "masked_score"], p + "scores_masked");
            var probs = g.Node("Softmax", [masked], p + "probs", OnnxAttribute.Int("axis", -1));
            var context = g.Node("Reshape",
                [g.Node("Transpose", [g.Node("MatMul", [probs, PresentValue(l)], p + "context_bhsd")], p + "context_bshd", OnnxAttribute.Ints("perm", 0, 2, 1, 3)), "shape_bsd"],
                p + "context");
            x = g.Node("Add", [x, g.Node("MatMul", [context, p + "o_proj"], p + "attn_out")], p + "resid_attn");

            var m = LayerNorm(g, x, p + "post_attention_layernorm");
            var up = g.Node("Add", [g.Node("MatMul", [m, p + "mlp.up"], p + "mlp_up_raw"), p + "mlp.up_bias"], p + "mlp_up");
            var act = g.Node("Mul", [up, g.Node("Sigmoid", [up], p + "mlp_gate")], p + "mlp_act");
            x = g.Node("Add", [x, g.Node("MatMul", [act, p + "mlp.down"], p + "mlp_out")], p + "resid_mlp");
        }

        var final = LayerNorm(g, x, "final_layernorm");
        var rotated = g.Node("MatMul", [final, "output_rotation"], "final_rotated");
        var lmHead = g.Node("Transpose", ["embed_tokens"], "lm_head", OnnxAttribute.Ints("perm", 1, 0));
        g.Node("Add", [g.Node("MatMul", [rotated, lmHead], "logits_raw"), "logit_bias"], Logits);

        var inputs = new List<OnnxValueInfo>
        {
            variant.Input == DecoderInput.InputIds
                ? new(InputIds, OnnxDataType.Int64, [batch, sequence])
                : new(InputsEmbeds, OnnxDataType.Float, [batch, sequence, HiddenSize]),
            new(AttentionMask, OnnxDataType.Int64, [batch, total]),
            new(PositionIds, OnnxDataType.Int64, [batch, sequence]),
        };
        var outputs = new List<OnnxValueInfo> { new(Logits, OnnxDataType.Float, [batch, sequence, vocabularySize]) };
        for (var l = 0; l < NumLayers; l++)
        {
            inputs.Add(new(PastKey(l), OnnxDataType.Float, [batch, NumHeads, past, HeadDim]));
            inputs.Add(new(PastValue(l), OnnxDataType.Float, [batch, NumHeads, past, HeadDim]));
            outputs.Add(new(PresentKey(l), OnnxDataType.Float, [batch, NumHeads, total, HeadDim]));
            outputs.Add(new(PresentValue(l), OnnxDataType.Float, [batch, NumHeads, total, HeadDim]));
        }

        var inv = CultureInfo.InvariantCulture;
        return OnnxModel.Forged(new OnnxGraph(variant.GraphName, g.Nodes, inputs, outputs, g.Initializers),
            "Tiny deterministic decoder-only chat model", generatorName, modelId,
            [
                new("aurous.tokenizer", variant.TokenizerName),
                new("aurous.vocabulary_size", vocabularySize.ToString(inv)),
                new("aurous.num_layers", NumLayers.ToString(inv)),
                new("aurous.num_heads", NumHeads.ToString(inv)),
                new("aurous.head_dim", HeadDim.ToString(inv)),
                new("aurous.hidden_size", HiddenSize.ToString(inv)),
                new("aurous.position_embedding", "rotary"),
            ]);
    }

    /// <summary>
    /// The <c>embeddings</c> graph of an <see cref="DecoderInput.InputsEmbeds"/> variant: <c>input_ids</c> int64
    /// [batch_size, sequence_length] -> <c>inputs_embeds</c> float [batch_size, sequence_length, 64], a Gather from the
    /// same table (same seed) the decoder ties its output projection to.
    /// </summary>
    public static OnnxModel BuildEmbeddings(TinyDecoderVariant variant, string modelId, string generatorName)
    {
        var vocabularySize = variant.VocabularySize;
        var g = new GraphBuilder();
        g.Floats("embed_tokens", [vocabularySize, HiddenSize], CreateWeights(vocabularySize).TokenEmbedding);
        g.Node("Gather", ["embed_tokens", InputIds], InputsEmbeds, OnnxAttribute.Int("axis", 0));
        OnnxDim batch = "batch_size", sequence = "sequence_length";
        var inv = CultureInfo.InvariantCulture;
        return OnnxModel.Forged(new OnnxGraph(
            variant.GraphName + "_embeddings",
            g.Nodes,
            [new(InputIds, OnnxDataType.Int64, [batch, sequence])],
            [new(InputsEmbeds, OnnxDataType.Float, [batch, sequence, HiddenSize])],
            g.Initializers),
            "Token embedding table of the tiny chat model", generatorName, modelId,
            [
                new("aurous.vocabulary_size", vocabularySize.ToString(inv)),
                new("aurous.hidden_size", HiddenSize.ToString(inv)),
            ]);
    }

    private static string LayerNorm(GraphBuilder g, string input, string name) => g.LayerNorm(input, "ln_weight", "ln_bias", LayerNormEpsilon, name);

    /// <summary>Rotate-half RoPE on [batch, heads, seq, head_dim]: (x1, x2) -> (x1 cos - x2 sin, x1 sin + x2 cos).</summary>
    private static string Rotary(GraphBuilder g, string input, string cos, string sin, string name)
    {
        var (x1, x2) = (name + "_x1", name + "_x2");
        g.Add(new OnnxNode("Split", [input], [x1, x2], name + "_split") { Attributes = [OnnxAttribute.Int("axis", 3)] });
        var first = g.Node("Sub", [g.Node("Mul", [x1, cos], name + "_x1cos"), g.Node("Mul", [x2, sin], name + "_x2sin")], name + "_first");
        var second = g.Node("Add", [g.Node("Mul", [x1, sin], name + "_x1sin"), g.Node("Mul", [x2, cos], name + "_x2cos")], name + "_second");
        return g.Node("Concat", [first, second], name, OnnxAttribute.Int("axis", 3));
    }
}
