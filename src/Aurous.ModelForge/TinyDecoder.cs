using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using Aurous.ModelForge.Onnx;
using Aurous.Models;

namespace Aurous.ModelForge;

/// <summary>How a tiny decoder graph receives its tokens.</summary>
public enum DecoderInput
{
    /// <summary><c>input_ids</c> int64 [batch, seq]: the embedding lookup is inside the decoder (text-only exports).</summary>
    InputIds,
    /// <summary><c>inputs_embeds</c> float [batch, seq, hidden]: the lookup is a separate <c>embeddings</c> graph, so a
    /// caller can put image features at some positions first (the onnxruntime-genai / optimum VLM layout).</summary>
    InputsEmbeds,
}

/// <summary>
/// What distinguishes the versions of the tiny decoder (<see cref="TinyDecoderV1"/>, <see cref="TinyDecoderV2"/>): the
/// special tokens appended to GPT-2's vocabulary (ids 50257, 50258, ... in list order), how the decoder takes its input,
/// the chat template, the names it records, and whether a vision tower comes with it.
/// </summary>
public sealed record TinyDecoderVariant(
    string GraphName,
    string TokenizerName,
    string Architecture,
    string ModelType,
    IReadOnlyList<string> ExtraSpecialTokens,
    DecoderInput Input,
    string ChatTemplate,
    bool HasVision)
{
    public int VocabularySize => Gpt2TokenizerJson.VocabularySize + ExtraSpecialTokens.Count;

    public int IdOf(string specialToken)
    {
        for (var i = 0; i < ExtraSpecialTokens.Count; i++)
        {
            if (ExtraSpecialTokens[i] == specialToken)
            {
                return Gpt2TokenizerJson.VocabularySize + i;
            }
        }
        throw new ArgumentException($"'{specialToken}' is not a special token of {GraphName}.", nameof(specialToken));
    }
}

/// <summary>
/// The recipe every version of the tiny decoder-only chat model shares, in the layout real exports use (Hugging Face
/// optimum / onnxruntime-genai "decoder with past"), so that the loading and generation code written against it serves a
/// real small instruct model dropped into the same directory. Roles and files (by convention):
/// <list type="bullet">
/// <item><c>decoder</c> (<c>decoder.onnx</c>): the ONNX decoder below.</item>
/// <item><c>tokenizer</c> (<c>tokenizer.json</c>): GPT-2 byte-level BPE plus the variant's special tokens, ChatML's
/// <c>&lt;|im_start|&gt;</c> = 50257 and <c>&lt;|im_end|&gt;</c> = 50258 first.</item>
/// <item><c>tokenizer_config</c> (<c>tokenizer_config.json</c>): special tokens and the ChatML <c>chat_template</c> (Jinja).</item>
/// <item><c>generation_config</c> (<c>generation_config.json</c>): eos/pad/bos ids, max_length, sampling defaults.</item>
/// <item><c>config</c> (<c>config.json</c>, optional): the Hugging Face model config (layers, heads, sizes).</item>
/// </list>
/// The decoder's signature (opset 17, no contrib ops; V = the variant's vocabulary size):
/// <code>
/// input_ids                   int64 [batch_size, sequence_length]          (DecoderInput.InputIds), or
/// inputs_embeds               float [batch_size, sequence_length, 64]      (DecoderInput.InputsEmbeds)
/// attention_mask              int64 [batch_size, total_sequence_length]   1 = token, 0 = padding (past and new)
/// position_ids                int64 [batch_size, sequence_length]
/// past_key_values.{i}.key     float [batch_size, 4, past_sequence_length, 16]   i = 0, 1 (past_sequence_length may be 0)
/// past_key_values.{i}.value   float [batch_size, 4, past_sequence_length, 16]
/// logits                      float [batch_size, sequence_length, V]
/// present.{i}.key             float [batch_size, 4, total_sequence_length, 16]  = concat(past, new) on axis 2
/// present.{i}.value           float [batch_size, 4, total_sequence_length, 16]
/// </code>
/// total_sequence_length = past_sequence_length + sequence_length. Architecture (Llama-like, pre-norm): token embedding
/// [V, 64] -> 2 x (LayerNorm -> 4-head causal self-attention with rotary position embeddings from
/// <c>position_ids</c> (theta 10000), keys/values concatenated to the past, scores masked where the key is in the
/// query's future or <c>attention_mask</c> is 0 -> residual; LayerNorm -> 64 -> 256 SiLU -> 64 MLP -> residual) -> final
/// LayerNorm -> 64x64 output rotation -> tied embedding transpose [64, V] -> + logit bias. With
/// <see cref="DecoderInput.InputsEmbeds"/> the first step (the lookup) is the separate <c>embeddings</c> graph
/// (<see cref="BuildEmbeddings"/>: <c>input_ids</c> -> <c>inputs_embeds</c>); the decoder keeps the table for its tied
/// output projection.
/// <para>
/// Weights come from a seeded <see cref="DeterministicRandom"/>; the model has no skill. Two choices keep greedy
/// generation non-degenerate: (1) the random 64x64 matrix before the tied output projection, without which the
/// residual stream (dominated by the current token's embedding) would make every token predict itself forever, so that
/// the next token is a pseudo-random function of the whole context; (2) a fixed logit bias: 0 for "readable" tokens
/// (a space followed by 2-12 ASCII lowercase letters among the first <see cref="ReadableIdLimit"/> ids, i.e. about 5.5k
/// common English words minus a few profanities, so output looks like word salad rather than byte soup), <see cref="OtherTokenBias"/> for the rest of the GPT-2 vocabulary, <see cref="EndOfTurnBias"/> for
/// <c>&lt;|im_end|&gt;</c> (so a turn ends on its own after some tens of tokens for most prompts) and
/// <see cref="NeverBias"/> for <c>&lt;|endoftext|&gt;</c> and every other special token (<c>&lt;|im_start|&gt;</c>, the vision markers).
/// </para>
/// </summary>
public static class TinyDecoder
{
    public const string DecoderRole = "decoder";
    public const string EmbeddingsRole = "embeddings";
    public const string TokenizerRole = "tokenizer";
    public const string TokenizerConfigRole = "tokenizer_config";
    public const string GenerationConfigRole = "generation_config";
    public const string ConfigRole = "config";

    public const string ImStart = "<|im_start|>";
    public const string ImEnd = "<|im_end|>";
    public const int EndOfTextId = Gpt2TokenizerJson.EndOfTextId;
    public const int ImStartId = Gpt2TokenizerJson.VocabularySize;
    public const int ImEndId = Gpt2TokenizerJson.VocabularySize + 1;

    public const int NumLayers = 2;
    public const int HiddenSize = 64;
    public const int NumHeads = 4;
    public const int HeadDim = HiddenSize / NumHeads;
    public const int IntermediateSize = 256;
    public const float RopeTheta = 10000f;
    public const float LayerNormEpsilon = 1e-5f;
    public const ulong Seed = 0xA0_2E_C0DE_0001UL;
    /// <summary>Seed of the embedding rows of special tokens past ChatML's (<see cref="SharedVocabularySize"/> and up).</summary>
    public const ulong AddedTokensSeed = 0xA0_2E_C0DE_0003UL;
    /// <summary>GPT-2 plus ChatML's two tokens: the vocabulary whose weights every version shares.</summary>
    public const int SharedVocabularySize = Gpt2TokenizerJson.VocabularySize + 2;

    /// <summary>Logit bias of non-readable GPT-2 tokens (bytes, punctuation, capitalised and partial words).</summary>
    public const float OtherTokenBias = -4f;
    /// <summary>Logit bias of <c>&lt;|im_end|&gt;</c>, the end of an assistant turn.</summary>
    public const float EndOfTurnBias = 2.5f;
    /// <summary>Logit bias of tokens the model must never produce (<c>&lt;|endoftext|&gt;</c> and the special tokens but <c>&lt;|im_end|&gt;</c>).</summary>
    public const float NeverBias = -100f;

    /// <summary>Score for masked attention positions (finite, so a fully padded query row gives no NaN).</summary>
    public const float MaskedScore = -1e9f;

    /// <summary>The ChatML template as Hugging Face <c>tokenizer_config.json</c> files carry it (Jinja).</summary>
    public const string ChatMlTemplate =
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}" +
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    public const string InputIds = "input_ids";
    public const string InputsEmbeds = "inputs_embeds";
    public const string AttentionMask = "attention_mask";
    public const string PositionIds = "position_ids";
    public const string Logits = "logits";

    public static string PastKey(int layer) => $"past_key_values.{layer}.key";
    public static string PastValue(int layer) => $"past_key_values.{layer}.value";
    public static string PresentKey(int layer) => $"present.{layer}.key";
    public static string PresentValue(int layer) => $"present.{layer}.value";

    /// <summary>The roles every variant writes; a variant with a vision tower adds <c>embeddings</c> and <c>vision</c>.</summary>
    public static IReadOnlyList<string> TextRoles { get; } = [DecoderRole, TokenizerRole, TokenizerConfigRole, GenerationConfigRole, ConfigRole];

    /// <summary>The JSON files, which cannot record the recipe that wrote them (see <see cref="IModelGenerator.UnversionedRoles"/>).</summary>
    public static IReadOnlyList<string> UnversionedRoles { get; } = [TokenizerRole, TokenizerConfigRole, GenerationConfigRole, ConfigRole];

    /// <summary>
    /// The file of <paramref name="role"/> that every variant writes the same way (decoder, tokenizer, configs, and the
    /// embeddings graph of an <see cref="DecoderInput.InputsEmbeds"/> variant); null for a role this recipe does not
    /// write, so the version's generator handles its own (the vision tower) or refuses it.
    /// </summary>
    public static byte[]? Generate(TinyDecoderVariant variant, string generatorName, ModelManifest manifest, string role)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        if (manifest.Kind != ModelKind.Chat)
        {
            throw new InvalidOperationException($"Generator '{generatorName}' makes chat models, but model '{manifest.Id}' is of kind {manifest.Kind}.");
        }
        return role switch
        {
            DecoderRole => OnnxWriter.Serialize(BuildModel(variant, manifest.Id, generatorName)),
            EmbeddingsRole when variant.Input == DecoderInput.InputsEmbeds => OnnxWriter.Serialize(BuildEmbeddings(variant, manifest.Id, generatorName)),
            TokenizerRole => Gpt2TokenizerJson.Generate(variant.ExtraSpecialTokens),
            TokenizerConfigRole => TokenizerConfigJson(variant, manifest.ContextWindow),
            GenerationConfigRole => GenerationConfigJson(manifest.ContextWindow),
            ConfigRole => ConfigJson(variant, manifest.ContextWindow),
            _ => null,
        };
    }

    /// <summary>The weights, in generation order (all from one <see cref="DeterministicRandom"/> seeded with <see cref="Seed"/>).</summary>
    public sealed record Weights(
        float[] TokenEmbedding,
        IReadOnlyList<LayerWeights> Layers,
        float[] OutputRotation,
        float[] LogitBias);

    public sealed record LayerWeights(float[] Query, float[] Key, float[] Value, float[] Output, float[] MlpIn, float[] MlpInBias, float[] MlpOut);

    public static Weights CreateWeights(int vocabularySize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(vocabularySize, SharedVocabularySize);
        var random = new DeterministicRandom(Seed);
        // Uniform(-a, a) has variance a^2/3: sqrt(3) gives unit-variance entries, sqrt(3/n) unit-variance outputs of a
        // matrix fed n unit-variance inputs (LayerNorm outputs are unit variance).
        var unit = MathF.Sqrt(3f);
        var embedding = random.Fill(SharedVocabularySize * HiddenSize, unit);
        if (vocabularySize > SharedVocabularySize)
        {
            // Rows of tokens a later version adds come from a stream of their own, so every weight the versions share
            // stays the same: a text-only prompt gets v1's logits from v2 (plus the new tokens' "never" entries), and
            // replies that were tuned or tested on v1 do not change.
            embedding = [.. embedding, .. new DeterministicRandom(AddedTokensSeed).Fill((vocabularySize - SharedVocabularySize) * HiddenSize, unit)];
        }
        var layers = new LayerWeights[NumLayers];
        for (var l = 0; l < NumLayers; l++)
        {
            var square = MathF.Sqrt(3f / HiddenSize);
            // Query and key at twice the unit scale: attention scores with a std of ~4 rather than ~1, so attention picks
            // out a few earlier tokens and the prompt visibly steers the continuation. The MLP output at twice the scale
            // for the same reason (its SiLU halves the variance).
            layers[l] = new LayerWeights(
                Query: random.Fill(HiddenSize * HiddenSize, 2f * square),
                Key: random.Fill(HiddenSize * HiddenSize, 2f * square),
                Value: random.Fill(HiddenSize * HiddenSize, square),
                Output: random.Fill(HiddenSize * HiddenSize, square),
                MlpIn: random.Fill(HiddenSize * IntermediateSize, square),
                MlpInBias: random.Fill(IntermediateSize, 0.5f),
                MlpOut: random.Fill(IntermediateSize * HiddenSize, MathF.Sqrt(3f / IntermediateSize) * 2f));
        }
        // Final state (unit variance, 64 dims) x rotation x embedding^T, scaled so that logits have a std of ~2: sampling
        // at temperature 1 still finds a spread-out distribution.
        // Var(logit) = 64 (state) * 64 (rotation) * r^2/3 (rotation entries) * 1 (embedding entries) = 4 for r = sqrt(12)/64.
        var rotation = random.Fill(HiddenSize * HiddenSize, MathF.Sqrt(12f) / HiddenSize);
        return new Weights(embedding, layers, rotation, CreateLogitBias(vocabularySize));
    }

    /// <summary>See the class summary: readable words 0, other GPT-2 tokens <see cref="OtherTokenBias"/>, special tokens fixed.</summary>
    public static float[] CreateLogitBias(int vocabularySize)
    {
        var bias = new float[vocabularySize];
        Array.Fill(bias, OtherTokenBias);
        foreach (var (token, id) in Gpt2TokenizerJson.ReadVocabulary())
        {
            if (IsReadableWord(token, id))
            {
                bias[id] = 0f;
            }
        }
        // <|endoftext|> and every added special token: none of them is model output except the end of a turn.
        bias.AsSpan(EndOfTextId).Fill(NeverBias);
        bias[ImEndId] = EndOfTurnBias;
        return bias;
    }

    /// <summary>Readable tokens are among GPT-2's first ids (its merges come roughly in frequency order): common words.</summary>
    public const int ReadableIdLimit = 12_000;

    /// <summary>Common profanity and sexual words below <see cref="ReadableIdLimit"/>, kept out of the readable set so that
    /// the word salad stays presentable. Not exhaustive; the model can still emit anything under sampling.</summary>
    private static readonly HashSet<string> ExcludedWords =
        new(["fuck", "fucking", "shit", "porn", "rape", "cock", "sex", "sexual", "sexually", "ass", "cum", "anal", "suicide"], StringComparer.Ordinal);

    // 'Ġ' (U+0120) is GPT-2's byte-level symbol for a space.
    private static bool IsReadableWord(string token, int id) =>
        id < ReadableIdLimit && token.Length is >= 3 and <= 13 && token[0] == '\u0120'
        && token.AsSpan(1).IndexOfAnyExceptInRange('a', 'z') < 0 && !ExcludedWords.Contains(token[1..]);

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
        return new OnnxModel(new OnnxGraph(variant.GraphName, g.Nodes, inputs, outputs, g.Initializers))
        {
            DocString = $"Tiny deterministic decoder-only chat model generated by {generatorName} for {modelId}. Not a trained model.",
            Metadata =
            [
                new("aurous.generator", generatorName),
                new("aurous.model_id", modelId),
                new("aurous.tokenizer", variant.TokenizerName),
                new("aurous.vocabulary_size", vocabularySize.ToString(inv)),
                new("aurous.num_layers", NumLayers.ToString(inv)),
                new("aurous.num_heads", NumHeads.ToString(inv)),
                new("aurous.head_dim", HeadDim.ToString(inv)),
                new("aurous.hidden_size", HiddenSize.ToString(inv)),
                new("aurous.position_embedding", "rotary"),
            ],
        };
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
        return new OnnxModel(new OnnxGraph(
            variant.GraphName + "_embeddings",
            g.Nodes,
            [new(InputIds, OnnxDataType.Int64, [batch, sequence])],
            [new(InputsEmbeds, OnnxDataType.Float, [batch, sequence, HiddenSize])],
            g.Initializers))
        {
            DocString = $"Token embedding table of the tiny chat model generated by {generatorName} for {modelId}. Not a trained model.",
            Metadata =
            [
                new("aurous.generator", generatorName),
                new("aurous.model_id", modelId),
                new("aurous.vocabulary_size", vocabularySize.ToString(inv)),
                new("aurous.hidden_size", HiddenSize.ToString(inv)),
            ],
        };
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

    private static byte[] Json(Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            write(w);
        }
        buffer.WriteByte((byte)'\n');
        return buffer.ToArray();
    }

    /// <summary>Hugging Face <c>tokenizer_config.json</c>: special tokens, the variant's chat template, no BOS added.</summary>
    public static byte[] TokenizerConfigJson(TinyDecoderVariant variant, int contextWindow) => Json(w =>
    {
        w.WriteStartObject();
        w.WriteBoolean("add_bos_token", false);
        w.WriteBoolean("add_prefix_space", false);
        w.WriteStartObject("added_tokens_decoder");
        foreach (var (id, content) in variant.ExtraSpecialTokens.Select(t => (variant.IdOf(t), t)).Prepend((EndOfTextId, Gpt2TokenizerJson.EndOfText)))
        {
            w.WriteStartObject(id.ToString(CultureInfo.InvariantCulture));
            w.WriteString("content", content);
            w.WriteBoolean("lstrip", false);
            w.WriteBoolean("normalized", false);
            w.WriteBoolean("rstrip", false);
            w.WriteBoolean("single_word", false);
            w.WriteBoolean("special", true);
            w.WriteEndObject();
        }
        w.WriteEndObject();
        w.WriteStartArray("additional_special_tokens");
        foreach (var token in variant.ExtraSpecialTokens)
        {
            w.WriteStringValue(token);
        }
        w.WriteEndArray();
        w.WriteNull("bos_token");
        w.WriteString("chat_template", variant.ChatTemplate);
        w.WriteBoolean("clean_up_tokenization_spaces", false);
        w.WriteString("eos_token", ImEnd);
        w.WriteString("errors", "replace");
        w.WriteNumber("model_max_length", contextWindow);
        w.WriteString("pad_token", Gpt2TokenizerJson.EndOfText);
        w.WriteString("tokenizer_class", "GPT2Tokenizer");
        w.WriteNull("unk_token");
        w.WriteEndObject();
    });

    /// <summary>Hugging Face <c>generation_config.json</c>: the turn ends at <c>&lt;|im_end|&gt;</c> (or <c>&lt;|endoftext|&gt;</c>).</summary>
    public static byte[] GenerationConfigJson(int contextWindow) => Json(w =>
    {
        w.WriteStartObject();
        w.WriteNumber("bos_token_id", EndOfTextId);
        w.WriteStartArray("eos_token_id");
        w.WriteNumberValue(ImEndId);
        w.WriteNumberValue(EndOfTextId);
        w.WriteEndArray();
        w.WriteNumber("pad_token_id", EndOfTextId);
        w.WriteNumber("max_length", contextWindow);
        w.WriteBoolean("do_sample", true);
        w.WriteNumber("temperature", 1.0);
        w.WriteNumber("top_p", 1.0);
        w.WriteNumber("top_k", 0);
        w.WriteEndObject();
    });

    /// <summary>
    /// Hugging Face <c>config.json</c> for the decoder (what loaders read to size the KV cache); a variant with a vision
    /// tower adds the image token ids and a <c>vision_config</c> (Qwen2-VL's names), which is what a loader reads to lay
    /// out an image's tokens in the prompt.
    /// </summary>
    public static byte[] ConfigJson(TinyDecoderVariant variant, int contextWindow) => Json(w =>
    {
        w.WriteStartObject();
        w.WriteStartArray("architectures");
        w.WriteStringValue(variant.Architecture);
        w.WriteEndArray();
        w.WriteString("model_type", variant.ModelType);
        w.WriteNumber("vocab_size", variant.VocabularySize);
        w.WriteNumber("hidden_size", HiddenSize);
        w.WriteNumber("intermediate_size", IntermediateSize);
        w.WriteNumber("num_hidden_layers", NumLayers);
        w.WriteNumber("num_attention_heads", NumHeads);
        w.WriteNumber("num_key_value_heads", NumHeads);
        w.WriteNumber("head_dim", HeadDim);
        w.WriteString("hidden_act", "silu");
        w.WriteNumber("layer_norm_eps", LayerNormEpsilon);
        w.WriteNumber("rope_theta", RopeTheta);
        w.WriteNumber("max_position_embeddings", contextWindow);
        w.WriteBoolean("tie_word_embeddings", true);
        w.WriteNumber("bos_token_id", EndOfTextId);
        w.WriteNumber("eos_token_id", ImEndId);
        w.WriteNumber("pad_token_id", EndOfTextId);
        w.WriteString("torch_dtype", "float32");
        w.WriteBoolean("use_cache", true);
        if (variant.HasVision)
        {
            w.WriteNumber("image_token_id", variant.IdOf(TinyVisionTower.ImagePad));
            w.WriteNumber("vision_start_token_id", variant.IdOf(TinyVisionTower.VisionStart));
            w.WriteNumber("vision_end_token_id", variant.IdOf(TinyVisionTower.VisionEnd));
            TinyVisionTower.WriteConfig(w);
        }
        w.WriteEndObject();
    });
}
