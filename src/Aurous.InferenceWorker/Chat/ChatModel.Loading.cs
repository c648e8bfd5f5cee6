using System.Text.Json;
using Aurous.InferenceWorker.Models;
using Aurous.Models;
using Aurous.Tokenizers;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Aurous.InferenceWorker.Chat;

// Loading: the model's files, the checks on its graphs and config, and the self-test it passes before it serves.
public sealed partial class ChatModel
{
    public const string DecoderRole = "decoder";
    public const string EmbeddingsRole = "embeddings";
    public const string VisionRole = "vision";
    public const string TokenizerRole = "tokenizer";
    public const string GenerationConfigRole = "generation_config";
    public const string ConfigRole = "config";

    /// <summary>As <see cref="Create(InferenceSession, CatalogModel, Func{string, InferenceSession})"/>, opening other files with default session options.</summary>
    public static ChatModel Create(InferenceSession session, CatalogModel model) => Create(session, model, path => new InferenceSession(path));

    /// <summary>
    /// Wraps a decoder session after reading the model's config files and checking the session's signature. When the
    /// decoder takes <c>inputs_embeds</c>, the <c>embeddings</c> file (required) and the <c>vision</c> file (optional)
    /// are opened with <paramref name="openSession"/> (the host's provider and options) and owned by the model from then
    /// on; the decoder session is owned by the model only once this returns.
    /// </summary>
    public static ChatModel Create(InferenceSession session, CatalogModel model, Func<string, InferenceSession> openSession)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(openSession);
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
        var takesEmbeddings = CheckSignature(session, shape);
        var hiddenSize = HiddenSizeOf(session, config.RootElement);

        InferenceSession? embeddings = null;
        VisionTowerModel? vision = null;
        try
        {
            var visionTokens = VisionTokens.None;
            if (takesEmbeddings)
            {
                embeddings = openSession(RequiredFile(model, EmbeddingsRole));
                hiddenSize = CheckEmbeddings(embeddings, hiddenSize);
                visionTokens = VisionTokens.From(config.RootElement, tokenizer);
            }
            if (manifest.Files.ContainsKey(VisionRole))
            {
                if (!takesEmbeddings)
                {
                    throw new InvalidDataException($"a '{VisionRole}' file needs a decoder that takes {InputsEmbeds}; this decoder takes {InputIds}");
                }
                if (visionTokens.ImageTokenId < 0)
                {
                    throw new InvalidDataException("a model with a vision tower needs config.json's image_token_id");
                }
                var visionSession = openSession(RequiredFile(model, VisionRole));
                try
                {
                    vision = VisionTowerModel.Create(visionSession, visionTokens.TokensPerImage, hiddenSize);
                }
                catch
                {
                    visionSession.Dispose();
                    throw;
                }
            }
            return new ChatModel(session, embeddings, vision, tokenizer, shape, defaults, manifest.ContextWindow, hiddenSize, visionTokens);
        }
        catch
        {
            embeddings?.Dispose();
            vision?.Dispose();
            throw;
        }
    }

    private static string RequiredFile(CatalogModel model, string role)
    {
        if (!model.Manifest.Files.ContainsKey(role))
        {
            throw new InvalidDataException(role == EmbeddingsRole
                ? $"a chat model whose decoder takes {InputsEmbeds} needs an '{EmbeddingsRole}' file"
                : $"a chat model needs a '{role}' file");
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

    /// <summary>Checks the decoder's inputs and outputs; returns true for an <c>inputs_embeds</c> decoder, false for <c>input_ids</c>.</summary>
    private static bool CheckSignature(InferenceSession session, DecoderShape shape)
    {
        var inputs = session.InputMetadata;
        var takesEmbeddings = !inputs.ContainsKey(InputIds) && inputs.ContainsKey(InputsEmbeds);
        if (takesEmbeddings)
        {
            var embeds = inputs[InputsEmbeds];
            if (embeds.ElementDataType != TensorElementType.Float || embeds.Dimensions.Length != 3)
            {
                throw new InvalidDataException($"input '{InputsEmbeds}' is {embeds.ElementDataType} [{string.Join(", ", embeds.Dimensions)}], expected float [batch, sequence, hidden]");
            }
        }
        foreach (var name in takesEmbeddings ? [AttentionMask] : new[] { InputIds, AttentionMask })
        {
            if (!inputs.TryGetValue(name, out var meta) || meta.ElementDataType != TensorElementType.Int64)
            {
                throw new InvalidDataException($"a decoder needs an int64 input '{name}'; this model has: {string.Join(", ", inputs.Keys)}");
            }
        }
        var expected = new HashSet<string>([takesEmbeddings ? InputsEmbeds : InputIds, AttentionMask, PositionIds]);
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
        return takesEmbeddings;
    }

    /// <summary>The decoder's hidden size: the fixed last dimension of <c>inputs_embeds</c>, else config.json's (0 if neither says).</summary>
    private static int HiddenSizeOf(InferenceSession session, JsonElement config)
    {
        var configured = DecoderShape.Int(config, "hidden_size") ?? DecoderShape.Int(config, "n_embd");
        if (session.InputMetadata.TryGetValue(InputsEmbeds, out var embeds) && embeds.Dimensions is [_, _, > 0 and var declared])
        {
            return configured is { } c && c != declared
                ? throw new InvalidDataException($"config.json says hidden_size {c} but the decoder's {InputsEmbeds} is {declared} wide")
                : declared;
        }
        return configured ?? 0;
    }

    /// <summary>Checks the embeddings graph (ids in, rows of the decoder's width out); returns the hidden size.</summary>
    private static int CheckEmbeddings(InferenceSession embeddings, int hiddenSize)
    {
        if (!embeddings.InputMetadata.TryGetValue(InputIds, out var ids) || ids.ElementDataType != TensorElementType.Int64 || embeddings.InputMetadata.Count != 1)
        {
            throw new InvalidDataException($"an embeddings graph needs exactly one int64 input '{InputIds}'; this one has: {string.Join(", ", embeddings.InputMetadata.Keys)}");
        }
        var output = embeddings.OutputMetadata[EmbeddingsOutputName(embeddings)];
        var dims = output.Dimensions;
        if (output.ElementDataType != TensorElementType.Float || dims.Length != 3 || (dims[2] > 0 && hiddenSize > 0 && dims[2] != hiddenSize))
        {
            throw new InvalidDataException($"the embeddings output is {output.ElementDataType} [{string.Join(", ", dims)}], expected float [batch, sequence, {hiddenSize}]");
        }
        var size = hiddenSize > 0 ? hiddenSize : dims[2];
        return size > 0 ? size : throw new InvalidDataException("neither config.json nor the decoder or embeddings graph gives the hidden size");
    }

    private static string EmbeddingsOutputName(InferenceSession embeddings) =>
        embeddings.OutputMetadata.ContainsKey(InputsEmbeds) ? InputsEmbeds
        : embeddings.OutputMetadata.Count == 1 ? embeddings.OutputMetadata.Keys.Single()
        : throw new InvalidDataException($"an embeddings graph needs an output '{InputsEmbeds}'; this one has: {string.Join(", ", embeddings.OutputMetadata.Keys)}");

    /// <summary>
    /// Prefill of two tokens and one cached step, then (with a vision tower) a mid-grey image through the tower and a
    /// prompt carrying its features: a broken model fails at start-up, not on the first request.
    /// </summary>
    public void SelfTest()
    {
        var a = Math.Min(464, VocabSize - 1);
        var b = Math.Min(3290, VocabSize - 1);
        using (var state = NewState())
        {
            var first = Forward(state, [a, b], CancellationToken.None);
            var next = Forward(state, [TokenSampler.Argmax(first, first.Length)], CancellationToken.None);
            if (first.Any(v => !float.IsFinite(v)) || next.Any(v => !float.IsFinite(v)))
            {
                throw new InvalidDataException("decoder self-test produced non-finite logits");
            }
            if (state.Length != 3)
            {
                throw new InvalidDataException($"decoder self-test: the KV cache holds {state.Length} positions after 3 tokens");
            }
        }
        if (_vision is null)
        {
            return;
        }
        var grey = new byte[_vision.Preprocessor.ImageSize * _vision.Preprocessor.ImageSize * 3];
        Array.Fill(grey, (byte)128);
        var features = EncodeImages([_vision.Preprocessor.Normalize(grey)], CancellationToken.None);
        if (features.Any(v => !float.IsFinite(v)) || features.All(v => v == 0))
        {
            throw new InvalidDataException("vision self-test produced non-finite or all-zero image features");
        }
        using (var state = NewState())
        {
            var prompt = ImagePrompt(a);
            var logits = Forward(state, prompt, features, CancellationToken.None);
            var next = Forward(state, [TokenSampler.Argmax(logits, logits.Length)], CancellationToken.None);
            if (logits.Any(v => !float.IsFinite(v)) || next.Any(v => !float.IsFinite(v)))
            {
                throw new InvalidDataException("vision self-test produced non-finite logits");
            }
        }
    }

    /// <summary>One image's tokens as a prompt lays them out (start marker, a pad per feature row, end marker), then <paramref name="text"/>.</summary>
    private long[] ImagePrompt(long text)
    {
        var prompt = new List<long>(TokensPerImage + 3);
        if (VisionStartId >= 0)
        {
            prompt.Add(VisionStartId);
        }
        prompt.AddRange(Enumerable.Repeat((long)ImageTokenId, TokensPerImage));
        if (VisionEndId >= 0)
        {
            prompt.Add(VisionEndId);
        }
        prompt.Add(text);
        return [.. prompt];
    }

    /// <summary>config.json's image token ids (Qwen2-VL's names; LLaVA's <c>image_token_index</c> too) and tokens per image.</summary>
    private sealed record VisionTokens(int ImageTokenId, int VisionStartId, int VisionEndId, int? TokensPerImage)
    {
        public static VisionTokens None { get; } = new(-1, -1, -1, null);

        public static VisionTokens From(JsonElement config, BpeTokenizer tokenizer)
        {
            var image = DecoderShape.Int(config, "image_token_id") ?? DecoderShape.Int(config, "image_token_index") ?? -1;
            var start = DecoderShape.Int(config, "vision_start_token_id") ?? -1;
            var end = DecoderShape.Int(config, "vision_end_token_id") ?? -1;
            foreach (var (name, id) in new[] { ("image_token_id", image), ("vision_start_token_id", start), ("vision_end_token_id", end) })
            {
                // The prompt's image tokens come from the tokenizer (the API renders the markers as text): each must be
                // one of its special added tokens, or a prompt could never carry it.
                if (id >= 0 && !tokenizer.AddedTokens.Any(t => t.Id == id && t.Special))
                {
                    throw new InvalidDataException($"config.json's {name} {id} is not a special token of tokenizer.json");
                }
            }
            int? tokensPerImage = null;
            if (config.TryGetProperty("vision_config", out var vision) && vision.ValueKind == JsonValueKind.Object)
            {
                tokensPerImage = DecoderShape.Int(vision, "tokens_per_image")
                    ?? (DecoderShape.Int(vision, "image_size") is > 0 and var size && DecoderShape.Int(vision, "patch_size") is > 0 and var patch && size % patch == 0
                        ? size / patch * (size / patch)
                        : null);
            }
            return new VisionTokens(image, start, end, tokensPerImage);
        }
    }
}
