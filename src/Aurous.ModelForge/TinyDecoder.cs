using Aurous.ModelForge.Onnx;
using Aurous.Models;

namespace Aurous.ModelForge;

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
/// (<see cref="TinyDecoderGraph.BuildEmbeddings"/>: <c>input_ids</c> -> <c>inputs_embeds</c>); the decoder keeps the table for its tied
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
            DecoderRole => OnnxWriter.Serialize(TinyDecoderGraph.BuildModel(variant, manifest.Id, generatorName)),
            EmbeddingsRole when variant.Input == DecoderInput.InputsEmbeds => OnnxWriter.Serialize(TinyDecoderGraph.BuildEmbeddings(variant, manifest.Id, generatorName)),
            TokenizerRole => Gpt2TokenizerJson.Generate(variant.ExtraSpecialTokens),
            TokenizerConfigRole => TinyDecoderJson.TokenizerConfig(variant, manifest.ContextWindow),
            GenerationConfigRole => TinyDecoderJson.GenerationConfig(manifest.ContextWindow),
            ConfigRole => TinyDecoderJson.Config(variant, manifest.ContextWindow),
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
}
