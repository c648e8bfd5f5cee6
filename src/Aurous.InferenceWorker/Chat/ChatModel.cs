using System.Text.Json;
using Aurous.Models;
using Aurous.Tokenizers;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Aurous.InferenceWorker.Chat;

/// <summary>
/// A decoder-only chat model in the standard "decoder with past" export layout: one ONNX session (<c>decoder</c> role)
/// with <c>input_ids</c>, <c>attention_mask</c>, optional <c>position_ids</c> and <c>past_key_values.{i}.key|value</c>
/// in, <c>logits</c> and <c>present.{i}.key|value</c> out; the Hugging Face <c>config.json</c> (layers, KV heads,
/// head_dim: the KV cache's shape), <c>generation_config.json</c> (eos ids, sampling defaults) and <c>tokenizer.json</c>.
/// The session is shared and thread-safe; each generation owns a <see cref="DecoderState"/> (its KV cache).
/// </summary>
public sealed class ChatModel : IDisposable
{
    public const string DecoderRole = "decoder";
    public const string TokenizerRole = "tokenizer";
    public const string GenerationConfigRole = "generation_config";
    public const string ConfigRole = "config";

    private const string InputIds = "input_ids";
    private const string AttentionMask = "attention_mask";
    private const string PositionIds = "position_ids";
    private const string Logits = "logits";

    private readonly InferenceSession _session;
    private readonly bool _hasPositionIds;
    private readonly string[] _outputNames;
    private readonly bool[] _producesText;

    private ChatModel(InferenceSession session, BpeTokenizer tokenizer, DecoderShape shape, GenerationDefaults defaults, int contextWindow)
    {
        _session = session;
        Tokenizer = tokenizer;
        Layers = shape.Layers;
        KvHeads = shape.KvHeads;
        HeadDim = shape.HeadDim;
        Defaults = defaults;
        ContextWindow = contextWindow;
        _hasPositionIds = session.InputMetadata.ContainsKey(PositionIds);
        _outputNames = [Logits, .. Enumerable.Range(0, Layers).SelectMany(l => new[] { $"present.{l}.key", $"present.{l}.value" })];
        // Special added tokens (ChatML markers, <|endoftext|>) never appear in the text a client sees.
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
    public GenerationDefaults Defaults { get; }
    /// <summary>The manifest's context window: prompt + max_tokens must fit in it.</summary>
    public int ContextWindow { get; }
    /// <summary>Ids a client may send and the sampler may pick: the tokenizer's vocabulary.</summary>
    public int VocabSize => Tokenizer.VocabSize;
    public InferenceSession Session => _session;

    /// <summary>Whether a token contributes text (false for special added tokens).</summary>
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

    public bool ProducesText(int id) => (uint)id < (uint)_producesText.Length && _producesText[id];

    /// <summary>Wraps a decoder session after reading the model's config files and checking the session's signature.</summary>
    public static ChatModel Create(InferenceSession session, CatalogModel model)
    {
        var manifest = model.Manifest;
        var tokenizerPath = RequiredFile(model, TokenizerRole);
        var tokenizer = BpeTokenizer.Load(tokenizerPath);
        using var config = ReadJson(RequiredFile(model, ConfigRole));
        var shape = DecoderShape.From(config.RootElement);
        GenerationDefaults defaults;
        if (manifest.Files.ContainsKey(GenerationConfigRole))
        {
            using var generation = ReadJson(RequiredFile(model, GenerationConfigRole));
            defaults = GenerationDefaults.From(generation.RootElement, config.RootElement);
        }
        else
        {
            defaults = GenerationDefaults.From(default, config.RootElement);
        }
        CheckSignature(session, shape);
        return new ChatModel(session, tokenizer, shape, defaults, manifest.ContextWindow);
    }

    private static string RequiredFile(CatalogModel model, string role)
    {
        if (!model.Manifest.Files.ContainsKey(role))
        {
            throw new InvalidDataException($"a chat model needs a '{role}' file");
        }
        var path = model.FilePath(role);
        return File.Exists(path) ? path : throw new InvalidDataException($"file '{path}' is missing");
    }

    private static JsonDocument ReadJson(string path)
    {
        try
        {
            return JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"'{Path.GetFileName(path)}' is not valid JSON: {ex.Message}", ex);
        }
    }

    private static void CheckSignature(InferenceSession session, DecoderShape shape)
    {
        var inputs = session.InputMetadata;
        foreach (var name in new[] { InputIds, AttentionMask })
        {
            if (!inputs.TryGetValue(name, out var meta) || meta.ElementDataType != TensorElementType.Int64)
            {
                throw new InvalidDataException($"a decoder needs an int64 input '{name}'; this model has: {string.Join(", ", inputs.Keys)}");
            }
        }
        var expected = new HashSet<string>([InputIds, AttentionMask, PositionIds]);
        for (var l = 0; l < shape.Layers; l++)
        {
            foreach (var name in new[] { $"past_key_values.{l}.key", $"past_key_values.{l}.value" })
            {
                expected.Add(name);
                if (!inputs.TryGetValue(name, out var meta))
                {
                    throw new InvalidDataException($"config.json says {shape.Layers} layers but the decoder has no input '{name}'");
                }
                var dims = meta.Dimensions;
                if (meta.ElementDataType != TensorElementType.Float || dims.Length != 4
                    || (dims[1] > 0 && dims[1] != shape.KvHeads) || (dims[3] > 0 && dims[3] != shape.HeadDim))
                {
                    throw new InvalidDataException(
                        $"input '{name}' is {meta.ElementDataType} [{string.Join(", ", dims)}], expected float [batch, {shape.KvHeads}, past, {shape.HeadDim}] from config.json");
                }
            }
        }
        var extra = inputs.Keys.Where(k => !expected.Contains(k)).ToArray();
        if (extra.Length > 0)
        {
            throw new InvalidDataException($"unexpected decoder inputs: {string.Join(", ", extra)}");
        }
        var outputs = session.OutputMetadata;
        var missing = new[] { Logits }.Concat(Enumerable.Range(0, shape.Layers).SelectMany(l => new[] { $"present.{l}.key", $"present.{l}.value" }))
            .Where(o => !outputs.ContainsKey(o)).ToArray();
        if (missing.Length > 0)
        {
            throw new InvalidDataException($"the decoder lacks outputs {string.Join(", ", missing)}; it has: {string.Join(", ", outputs.Keys)}");
        }
    }

    /// <summary>A fresh, empty KV cache for one generation.</summary>
    public DecoderState NewState() => new();

    /// <summary>
    /// Runs <paramref name="tokens"/> (the whole prompt for the prefill, then one token at a time) against the cache in
    /// <paramref name="state"/>, advances the cache and returns the logits of the last position (length ≥ vocabulary).
    /// <paramref name="cancellationToken"/> also terminates a run in flight.
    /// </summary>
    public float[] Forward(DecoderState state, ReadOnlySpan<long> tokens, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(state.Disposed, state);
        var n = tokens.Length;
        var past = state.Length;
        var total = past + n;
        var ids = tokens.ToArray();
        var mask = new long[total];
        Array.Fill(mask, 1L);

        var names = new List<string>(3 + 2 * Layers) { InputIds, AttentionMask };
        var values = new List<OrtValue>(3 + 2 * Layers);
        var owned = new List<OrtValue>(4 + 2 * Layers);
        try
        {
            owned.Add(OrtValue.CreateTensorValueFromMemory(ids, [1, n]));
            owned.Add(OrtValue.CreateTensorValueFromMemory(mask, [1, total]));
            values.AddRange(owned);
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
                    if (state.Present is { } present)
                    {
                        values.Add(present[1 + 2 * l + kv]);
                    }
                    else
                    {
                        var empty = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, TensorElementType.Float, [1, KvHeads, 0, HeadDim]);
                        owned.Add(empty);
                        values.Add(empty);
                    }
                }
            }

            using var runOptions = new RunOptions();
            using var registration = cancellationToken.Register(static o => ((RunOptions)o!).Terminate = true, runOptions);
            cancellationToken.ThrowIfCancellationRequested();
            IDisposableReadOnlyCollection<OrtValue> results;
            try
            {
                results = _session.Run(runOptions, names, values, _outputNames);
            }
            catch (OnnxRuntimeException) when (cancellationToken.IsCancellationRequested)
            {
                throw new OperationCanceledException(cancellationToken);
            }
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

    /// <summary>Prefill of two tokens and one cached step: a broken decoder fails at start-up, not on the first request.</summary>
    public void SelfTest()
    {
        using var state = NewState();
        var a = Math.Min(464, VocabSize - 1);
        var b = Math.Min(3290, VocabSize - 1);
        var first = Forward(state, [a, b], CancellationToken.None);
        var next = Forward(state, [ArgMax(first)], CancellationToken.None);
        if (first.Any(v => !float.IsFinite(v)) || next.Any(v => !float.IsFinite(v)))
        {
            throw new InvalidDataException("decoder self-test produced non-finite logits");
        }
        if (state.Length != 3)
        {
            throw new InvalidDataException($"decoder self-test: the KV cache holds {state.Length} positions after 3 tokens");
        }
    }

    private static int ArgMax(float[] values)
    {
        var best = 0;
        for (var i = 1; i < values.Length; i++)
        {
            if (values[i] > values[best])
            {
                best = i;
            }
        }
        return best;
    }

    public void Dispose() => _session.Dispose();
}

/// <summary>One generation's KV cache: the <c>present.*</c> outputs of its last run, fed back as <c>past_key_values.*</c>.</summary>
public sealed class DecoderState : IDisposable
{
    internal IDisposableReadOnlyCollection<OrtValue>? Present { get; private set; }
    /// <summary>Positions in the cache (prompt + generated tokens fed so far).</summary>
    public int Length { get; private set; }
    internal bool Disposed { get; private set; }

    internal void Replace(IDisposableReadOnlyCollection<OrtValue> results, int length)
    {
        Present?.Dispose();
        Present = results;
        Length = length;
    }

    public void Dispose()
    {
        Disposed = true;
        Present?.Dispose();
        Present = null;
    }
}

/// <summary>The KV cache's shape from Hugging Face <c>config.json</c>.</summary>
public sealed record DecoderShape(int Layers, int KvHeads, int HeadDim)
{
    public static DecoderShape From(JsonElement config)
    {
        var layers = Int(config, "num_hidden_layers") ?? Int(config, "n_layer")
            ?? throw new InvalidDataException("config.json has no num_hidden_layers");
        var heads = Int(config, "num_attention_heads") ?? Int(config, "n_head")
            ?? throw new InvalidDataException("config.json has no num_attention_heads");
        var kvHeads = Int(config, "num_key_value_heads") ?? heads;
        var headDim = Int(config, "head_dim")
            ?? (Int(config, "hidden_size") ?? Int(config, "n_embd")) / heads
            ?? throw new InvalidDataException("config.json has neither head_dim nor hidden_size");
        if (layers <= 0 || kvHeads <= 0 || headDim <= 0)
        {
            throw new InvalidDataException($"config.json gives layers {layers}, key/value heads {kvHeads}, head_dim {headDim}: all must be positive");
        }
        return new DecoderShape(layers, kvHeads, headDim);
    }

    internal static int? Int(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) ? i : null;
}

/// <summary>From <c>generation_config.json</c> (falling back to <c>config.json</c>): end-of-sequence ids and sampling defaults.</summary>
public sealed record GenerationDefaults(IReadOnlyList<int> EosTokenIds, double Temperature, double TopP)
{
    public static GenerationDefaults From(JsonElement generation, JsonElement config)
    {
        var eos = EosIds(generation);
        if (eos.Count == 0)
        {
            eos = EosIds(config);
        }
        return new GenerationDefaults(eos, Double(generation, "temperature") ?? 1.0, Double(generation, "top_p") ?? 1.0);
    }

    private static List<int> EosIds(JsonElement e)
    {
        var ids = new List<int>();
        if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty("eos_token_id", out var v))
        {
            return ids;
        }
        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var one))
        {
            ids.Add(one);
        }
        else if (v.ValueKind == JsonValueKind.Array)
        {
            ids.AddRange(v.EnumerateArray().Where(x => x.ValueKind == JsonValueKind.Number && x.TryGetInt32(out _)).Select(x => x.GetInt32()));
        }
        return ids;
    }

    private static double? Double(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;
}
