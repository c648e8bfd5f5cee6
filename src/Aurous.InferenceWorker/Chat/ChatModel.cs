using Aurous.InferenceWorker.Media;
using Aurous.InferenceWorker.Models;
using Aurous.Tokenizers;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Aurous.InferenceWorker.Chat;

/// <summary>
/// A decoder-only chat model in the standard "decoder with past" export layout: one ONNX session (<c>decoder</c> role)
/// with <c>input_ids</c>, <c>attention_mask</c>, optional <c>position_ids</c> and <c>past_key_values.{i}.key|value</c>
/// in, <c>logits</c> and <c>present.{i}.key|value</c> out; the Hugging Face <c>config.json</c> (layers, KV heads,
/// head_dim: the KV cache's shape), <c>generation_config.json</c> (eos ids, sampling defaults) and <c>tokenizer.json</c>.
/// <para>
/// Vision-language exports (onnxruntime-genai / optimum's three graphs) are told apart by the decoder's inputs: a
/// decoder that takes <c>inputs_embeds</c> instead of <c>input_ids</c> needs the <c>embeddings</c> file (ids -> rows
/// of the token table), and an optional <c>vision</c> file (<see cref="VisionTowerModel"/>) turns images into feature
/// rows that take the place of the <c>&lt;|image_pad|&gt;</c> tokens' embeddings (<see cref="ImageTokenId"/>, from
/// config.json with the vision markers and <c>vision_config.tokens_per_image</c>).
/// </para>
/// The sessions are shared and thread-safe; each generation owns a <see cref="DecoderState"/> (its KV cache).
/// </summary>
public sealed partial class ChatModel : IDisposable
{
    private const string InputIds = "input_ids";
    private const string InputsEmbeds = "inputs_embeds";
    private const string AttentionMask = "attention_mask";
    private const string PositionIds = "position_ids";
    private const string Logits = "logits";

    private readonly InferenceSession _session;
    private readonly InferenceSession? _embeddings;
    private readonly string[] _embeddingsOutput;
    private readonly VisionTowerModel? _vision;
    private readonly bool _hasPositionIds;
    private readonly string[] _outputNames;
    private readonly bool[] _producesText;

    private ChatModel(InferenceSession session, InferenceSession? embeddings, VisionTowerModel? vision, BpeTokenizer tokenizer,
        DecoderShape shape, GenerationDefaults defaults, int contextWindow, int hiddenSize, VisionTokens visionTokens)
    {
        _session = session;
        _embeddings = embeddings;
        _embeddingsOutput = embeddings is null ? [] : [EmbeddingsOutputName(embeddings)];
        _vision = vision;
        Tokenizer = tokenizer;
        Layers = shape.Layers;
        KvHeads = shape.KvHeads;
        HeadDim = shape.HeadDim;
        AttentionHeads = shape.Heads;
        Defaults = defaults;
        ContextWindow = contextWindow;
        HiddenSize = hiddenSize;
        ImageTokenId = visionTokens.ImageTokenId;
        VisionStartId = visionTokens.VisionStartId;
        VisionEndId = visionTokens.VisionEndId;
        _hasPositionIds = session.InputMetadata.ContainsKey(PositionIds);
        _outputNames = [Logits, .. Enumerable.Range(0, Layers).SelectMany(l => new[] { $"present.{l}.key", $"present.{l}.value" })];
        // Special added tokens (ChatML markers, vision markers, <|endoftext|>) never appear in the text a client sees.
        _producesText = new bool[tokenizer.VocabSize];
        Array.Fill(_producesText, true);
        foreach (var added in tokenizer.AddedTokens)
        {
            if (added.Special && (uint)added.Id < (uint)_producesText.Length)
            {
                _producesText[added.Id] = false;
            }
        }
    }

    public BpeTokenizer Tokenizer { get; }
    public int Layers { get; }
    public int KvHeads { get; }
    public int HeadDim { get; }
    /// <summary>Query heads (config.json's num_attention_heads): the attention scores have one row set per head.</summary>
    public int AttentionHeads { get; }
    public GenerationDefaults Defaults { get; }
    /// <summary>The manifest's (nominal) context window.</summary>
    public int ContextWindow { get; }
    /// <summary>
    /// How much memory a generation takes and the context window actually served (prompt + max_tokens must fit in
    /// it), with the prefill's chunk size; by default the whole nominal window, unchunked, until the host sets one with
    /// <see cref="UseMemoryPlan"/>.
    /// </summary>
    public ChatMemoryPlan? MemoryPlan { get; private set; }
    /// <summary>The longest prompt + completion this worker serves: <see cref="MemoryPlan"/>'s, else the nominal window.</summary>
    public int ServedContextWindow => MemoryPlan?.ServedContextWindow ?? ContextWindow;
    /// <summary>Width of the logits rows (the decoder's declared vocabulary dimension, else the tokenizer's).</summary>
    public int LogitsWidth => _session.OutputMetadata[Logits].Dimensions is [_, _, > 0 and var width] ? width : VocabSize;
    /// <summary>
    /// Set by the host on a device whose ONNX Runtime arena keeps what a run allocated (the CUDA arena): the run
    /// option that gives a prefill chunk's working memory back at the end of the run (e.g. <c>gpu:0</c>); null: none.
    /// </summary>
    public string? ArenaShrinkage { get; set; }

    /// <summary>Sets the memory plan (budget, chunk size, served window) generations of this model follow.</summary>
    public void UseMemoryPlan(ChatMemoryPlan plan) => MemoryPlan = plan;

    /// <summary>A memory plan for this model's dimensions under <paramref name="budgetBytes"/> with prefill chunks of <paramref name="prefillChunkTokens"/>.</summary>
    public ChatMemoryPlan PlanMemory(long budgetBytes, int prefillChunkTokens) =>
        new(Layers, KvHeads, AttentionHeads, HeadDim, HiddenSize, LogitsWidth, ContextWindow, prefillChunkTokens, budgetBytes);
    /// <summary>Ids a client may send and the sampler may pick: the tokenizer's vocabulary.</summary>
    public int VocabSize => Tokenizer.VocabSize;
    /// <summary>The decoder session.</summary>
    public InferenceSession Session => _session;
    /// <summary>True when the decoder takes <c>inputs_embeds</c> (embedded by the <c>embeddings</c> graph), false for <c>input_ids</c>.</summary>
    public bool TakesEmbeddings => _embeddings is not null;
    /// <summary>Width of one token embedding and of one image feature row (config.json's hidden_size; 0 when unknown, only for an <c>input_ids</c> decoder).</summary>
    public int HiddenSize { get; }

    /// <summary>Whether the model has a vision tower: <see cref="EncodeImages"/> and image features in <see cref="Forward(DecoderState, ReadOnlySpan{long}, ReadOnlySpan{float}, CancellationToken)"/>.</summary>
    public bool SupportsImages => _vision is not null;
    /// <summary><c>&lt;|image_pad|&gt;</c> tokens (feature rows) per image; 0 without a vision tower.</summary>
    public int TokensPerImage => _vision?.TokensPerImage ?? 0;
    /// <summary>The <c>&lt;|image_pad|&gt;</c> id (config.json <c>image_token_id</c>) whose positions take image feature rows; -1 for a model without them.</summary>
    public int ImageTokenId { get; }
    /// <summary>The <c>&lt;|vision_start|&gt;</c> id that opens an image's tokens in the prompt; -1 when the model has none.</summary>
    public int VisionStartId { get; }
    /// <summary>The <c>&lt;|vision_end|&gt;</c> id that closes an image's tokens in the prompt; -1 when the model has none.</summary>
    public int VisionEndId { get; }
    /// <summary>How fetched image bytes become one <see cref="EncodeImages"/> input; null without a vision tower.</summary>
    public ImagePreprocessor? ImagePreprocessor => _vision?.Preprocessor;

    /// <summary>
    /// Each token's text for constrained decoding, decoded once: null for special tokens, empty texts and texts that
    /// are partial UTF-8 (they decode to U+FFFD), which structured output never picks.
    /// </summary>
    public string?[] ConstrainedTexts => _constrainedTexts ??= BuildConstrainedTexts();

    private string?[]? _constrainedTexts;

    private string?[] BuildConstrainedTexts()
    {
        var texts = new string?[VocabSize];
        for (var id = 0; id < texts.Length; id++)
        {
            if (!ProducesText(id) || Defaults.EosTokenIds.Contains(id))
            {
                continue;
            }
            var text = Tokenizer.Decode([id]);
            texts[id] = text.Length == 0 || text.Contains('\uFFFD') ? null : text;
        }
        return texts;
    }

    /// <summary>Whether a token contributes text (false for special added tokens).</summary>
    public bool ProducesText(int id) => (uint)id < (uint)_producesText.Length && _producesText[id];

    /// <summary>A fresh, empty KV cache for one generation.</summary>
    public DecoderState NewState() => new();

    /// <summary>
    /// Turns preprocessed images (each [3, S, S] from <see cref="ImagePreprocessor"/> / <see cref="PreprocessImageAsync"/>)
    /// into their feature rows in one batched run of the vision tower: [images x <see cref="TokensPerImage"/> x
    /// <see cref="HiddenSize"/>], in order, ready for <see cref="Forward(DecoderState, ReadOnlySpan{long}, ReadOnlySpan{float}, CancellationToken)"/>.
    /// </summary>
    public float[] EncodeImages(IReadOnlyList<float[]> pixelValues, CancellationToken cancellationToken) =>
        (_vision ?? throw new InvalidOperationException("this chat model has no vision tower (SupportsImages is false)")).Encode(pixelValues, cancellationToken);

    /// <summary>
    /// Fetched image bytes -> one <see cref="EncodeImages"/> input: ffmpeg decode to the tower's size (cover, centre
    /// crop) and the same normalisation the embeddings' image encoder uses. Throws <see cref="MediaException"/> for
    /// bytes that are not an image.
    /// </summary>
    public Task<float[]> PreprocessImageAsync(byte[] image, FfmpegDecoder decoder, CancellationToken cancellationToken) =>
        (_vision ?? throw new InvalidOperationException("this chat model has no vision tower (SupportsImages is false)")).Preprocessor.DecodeAsync(decoder, image, cancellationToken);

    /// <summary>
    /// Runs <paramref name="tokens"/> (the whole prompt for the prefill, then one token at a time) against the cache in
    /// <paramref name="state"/>, advances the cache and returns the logits of the last position (length ≥ vocabulary).
    /// <paramref name="cancellationToken"/> also terminates a run in flight. Tokens only: a prompt with
    /// <see cref="ImageTokenId"/> tokens needs the overload that takes their features.
    /// </summary>
    public float[] Forward(DecoderState state, ReadOnlySpan<long> tokens, CancellationToken cancellationToken) =>
        Forward(state, tokens, [], cancellationToken);

    /// <summary>
    /// As <see cref="Forward(DecoderState, ReadOnlySpan{long}, CancellationToken)"/>, with every <see cref="ImageTokenId"/>
    /// position taking the next <see cref="HiddenSize"/>-wide row of <paramref name="imageFeatures"/> (in order) instead
    /// of its token embedding. The rows must match the image tokens exactly (<see cref="ArgumentException"/> otherwise,
    /// before anything runs, so the cache is unchanged); features need a decoder that takes <c>inputs_embeds</c>.
    /// </summary>
    public float[] Forward(DecoderState state, ReadOnlySpan<long> tokens, ReadOnlySpan<float> imageFeatures, CancellationToken cancellationToken) =>
        Forward(state, tokens, imageFeatures, MemoryPlan?.PrefillChunkTokens ?? int.MaxValue, cancellationToken);

    /// <summary>
    /// As <see cref="Forward(DecoderState, ReadOnlySpan{long}, ReadOnlySpan{float}, CancellationToken)"/>, feeding the
    /// tokens through the decoder at most <paramref name="chunkTokens"/> at a time (each chunk attends to the cache the
    /// chunks before it wrote), so a run's attention scores are chunk x total rather than prompt x prompt. Image
    /// feature rows go with the chunk that holds their image tokens. Returns the last position's logits.
    /// </summary>
    public float[] Forward(DecoderState state, ReadOnlySpan<long> tokens, ReadOnlySpan<float> imageFeatures, int chunkTokens, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(chunkTokens);
        ObjectDisposedException.ThrowIf(state.Disposed, state);
        if (tokens.Length <= chunkTokens)
        {
            return ForwardOnce(state, tokens, imageFeatures, cancellationToken);
        }
        // Check the whole input first, so a bad one changes nothing in the cache.
        Validate(tokens, imageFeatures);
        float[] logits = [];
        var featureOffset = 0;
        for (var start = 0; start < tokens.Length; start += chunkTokens)
        {
            var chunk = tokens.Slice(start, Math.Min(chunkTokens, tokens.Length - start));
            var rows = ImageTokenId >= 0 ? chunk.Count(ImageTokenId) : 0;
            var features = imageFeatures.IsEmpty ? imageFeatures : imageFeatures.Slice(featureOffset, rows * HiddenSize);
            featureOffset += features.Length;
            logits = ForwardOnce(state, chunk, features, cancellationToken);
        }
        return logits;
    }

    private void Validate(ReadOnlySpan<long> tokens, ReadOnlySpan<float> imageFeatures)
    {
        foreach (var token in tokens)
        {
            if ((ulong)token >= (ulong)VocabSize)
            {
                throw new ArgumentOutOfRangeException(nameof(tokens), token, $"token ids are 0 to {VocabSize - 1}");
            }
        }
        if (ImageFeaturesMismatch(tokens, imageFeatures.Length) is { } mismatch)
        {
            throw new ArgumentException(mismatch, nameof(imageFeatures));
        }
    }

    /// <summary>One run of the decoder over all of <paramref name="tokens"/>.</summary>
    private float[] ForwardOnce(DecoderState state, ReadOnlySpan<long> tokens, ReadOnlySpan<float> imageFeatures, CancellationToken cancellationToken)
    {
        var n = tokens.Length;
        if (n == 0)
        {
            throw new ArgumentException("Forward needs at least one token.", nameof(tokens));
        }
        Validate(tokens, imageFeatures);
        var past = state.Length;
        var total = past + n;
        var mask = new long[total];
        Array.Fill(mask, 1L);

        var names = new List<string>(3 + 2 * Layers);
        var values = new List<OrtValue>(3 + 2 * Layers);
        var owned = new List<IDisposable>(4 + 2 * Layers);
        try
        {
            if (_embeddings is null)
            {
                var ids = OrtValue.CreateTensorValueFromMemory(tokens.ToArray(), [1, n]);
                owned.Add(ids);
                names.Add(InputIds);
                values.Add(ids);
            }
            else
            {
                var embedded = Embed(tokens, imageFeatures, cancellationToken);
                owned.Add(embedded);
                names.Add(InputsEmbeds);
                values.Add(embedded[0]);
            }
            var maskValue = OrtValue.CreateTensorValueFromMemory(mask, [1, total]);
            owned.Add(maskValue);
            names.Add(AttentionMask);
            values.Add(maskValue);
            if (_hasPositionIds)
            {
                var positions = new long[n];
                for (var i = 0; i < n; i++)
                {
                    positions[i] = past + i;
                }
                names.Add(PositionIds);
                var value = OrtValue.CreateTensorValueFromMemory(positions, [1, n]);
                owned.Add(value);
                values.Add(value);
            }
            for (var l = 0; l < Layers; l++)
            {
                for (var kv = 0; kv < 2; kv++)
                {
                    names.Add(kv == 0 ? $"past_key_values.{l}.key" : $"past_key_values.{l}.value");
                    if (state.Past(2 * l + kv) is { } cache)
                    {
                        values.Add(cache);
                    }
                    else
                    {
                        var empty = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, TensorElementType.Float, [1, KvHeads, 0, HeadDim]);
                        owned.Add(empty);
                        values.Add(empty);
                    }
                }
            }

            // A prefill chunk's working memory (scores, all rows' logits) is the largest a generation allocates: where the
            // device's arena would keep it, it is handed back at the end of the run.
            var results = _session.RunCancellable(names, values, _outputNames, cancellationToken, n > 1 ? ArenaShrinkage : null);
            try
            {
                var logits = results[0];
                var shape = logits.GetTensorTypeAndShape().Shape;
                if (shape.Length != 3 || shape[0] != 1 || shape[1] != n || shape[2] < VocabSize)
                {
                    throw new InvalidDataException($"logits have shape [{string.Join(", ", shape)}], expected [1, {n}, >= {VocabSize}]");
                }
                var vocab = (int)shape[2];
                var last = logits.GetTensorDataAsSpan<float>().Slice((n - 1) * vocab, vocab).ToArray();
                state.Replace(results, total);
                results = null!;
                return last;
            }
            finally
            {
                results?.Dispose();
            }
        }
        finally
        {
            foreach (var value in owned)
            {
                value.Dispose();
            }
        }
    }

    /// <summary>Why the image features do not fit the tokens (null when they do): one row per image token, and only for a decoder fed embeddings.</summary>
    private string? ImageFeaturesMismatch(ReadOnlySpan<long> tokens, int featureValues)
    {
        var imageTokens = ImageTokenId >= 0 ? tokens.Count(ImageTokenId) : 0;
        if (imageTokens == 0 && featureValues == 0)
        {
            return null;
        }
        if (_embeddings is null)
        {
            return $"this model's decoder takes {InputIds}, so it cannot take image features";
        }
        return featureValues == imageTokens * HiddenSize
            ? null
            : $"the tokens hold {imageTokens} image token(s) (id {ImageTokenId}), which take {imageTokens} x {HiddenSize} = {imageTokens * HiddenSize} " +
              $"image feature values; {featureValues} were given ({featureValues / (double)HiddenSize:0.##} rows)";
    }

    /// <summary>
    /// <c>inputs_embeds</c> [1, n, hidden] from a run of the embeddings graph, with the image feature rows written over
    /// the image tokens' rows in place (the run's output is ours to change). One graph run per decode step: measured on
    /// the tiny model against v1's in-graph lookup (decode steps/s, alternating rounds in one process, six runs), the
    /// ratio stayed within run-to-run noise (0.94 to 1.02), as did a lookup in a managed copy of the table (0.97 to
    /// 1.04); so the table is not copied: for a real VLM it would be hundreds of MB, and the graph may do more than a
    /// plain lookup (some exports scale the rows).
    /// </summary>
    private IDisposableReadOnlyCollection<OrtValue> Embed(ReadOnlySpan<long> tokens, ReadOnlySpan<float> imageFeatures, CancellationToken cancellationToken)
    {
        var n = tokens.Length;
        using var ids = OrtValue.CreateTensorValueFromMemory(tokens.ToArray(), [1, n]);
        var results = _embeddings!.RunCancellable([InputIds], [ids], _embeddingsOutput, cancellationToken);
        try
        {
            var shape = results[0].GetTensorTypeAndShape().Shape;
            if (shape is not [1, var rows, var width] || rows != n || width != HiddenSize)
            {
                throw new InvalidDataException($"the embeddings graph returned [{string.Join(", ", shape)}], expected [1, {n}, {HiddenSize}]");
            }
            if (!imageFeatures.IsEmpty)
            {
                var embeds = results[0].GetTensorMutableDataAsSpan<float>();
                var row = 0;
                for (var i = 0; i < n; i++)
                {
                    if (tokens[i] == ImageTokenId)
                    {
                        imageFeatures.Slice(row++ * HiddenSize, HiddenSize).CopyTo(embeds.Slice(i * HiddenSize, HiddenSize));
                    }
                }
            }
            return results;
        }
        catch
        {
            results.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        _session.Dispose();
        _decodeSession?.Dispose();
        ReleaseStepBuffers();
        _embeddings?.Dispose();
        _vision?.Dispose();
    }
}
