using Aurous.Api.Inference;
using Aurous.Api.Metering;
using Aurous.Inference.Contracts;
using Aurous.Models;

namespace Aurous.Api.Embeddings;

/// <summary>A validated POST /v1/embeddings body, its parts ready for the worker, and its token estimate.</summary>
public sealed record EmbeddingRequest(
    string RequestedModel, CatalogModel Model, IReadOnlyList<InternalEmbeddingPart> Parts, TokenUsage Estimate, string? User)
{
    private static readonly HashSet<string> KnownFields = ["model", "input", "dimensions", "encoding_format", "user"];

    /// <summary>
    /// Validates the body the way seed 002 and 004 describe; every failure is a precise 400 (or 404 for an unknown
    /// model) raised before any credit is held. Media token counts are upper bounds (a video's frames are counted at
    /// the maximum the model samples); the worker reports the exact numbers.
    /// </summary>
    public static (EmbeddingRequest? Request, ApiError? Error) Parse(JsonElement body, ModelCatalog catalog, ModelTokenizers tokenizers)
    {
        if (InferenceRequestFields.KnownObject(body, KnownFields) is { } bodyError)
        {
            return (null, bodyError);
        }
        if (InferenceRequestFields.RequiredModel(body, catalog, ModelKind.Embedding, "/v1/embeddings",
                "Pass a model id from GET /v1/models, e.g. aurous-embed-vision-1.0.", out var modelName, out var model) is { } modelError)
        {
            return (null, modelError);
        }
        var manifest = model.Manifest;

        if (JsonFields.OptionalInteger(body, "dimensions", int.MinValue, int.MaxValue, "embeddings_unsupported_dimensions", out var dimensions,
                $"Model {manifest.Id} does not accept that many dimensions.") is { } dimsError)
        {
            return (null, dimsError);
        }
        if (dimensions is { } requested)
        {
            if (manifest.Dimensions is not { Count: > 0 } supported)
            {
                return Fail("embeddings_unsupported_dimensions", $"Model {manifest.Id} does not accept the dimensions parameter; received {requested}.");
            }
            if (!supported.Contains((int)requested))
            {
                return Fail("embeddings_unsupported_dimensions",
                    $"Model {manifest.Id} only accepts {string.Join(", ", supported)} for dimensions; received {requested}.");
            }
        }

        if (JsonFields.OptionalString(body, "encoding_format", out var format) is { } formatError)
        {
            return (null, formatError);
        }
        if (format is not (null or "float" or "base64"))
        {
            return Fail("invalid_encoding_format", "'encoding_format' must be \"float\" or \"base64\".");
        }

        if (InferenceRequestFields.User(body, out var user) is { } userError)
        {
            return (null, userError);
        }

        if (JsonFields.Optional(body, "input", "a string or an array of content parts", out var inputValue, JsonValueKind.String, JsonValueKind.Array) is { } inputError)
        {
            return (null, inputError);
        }
        if (inputValue is not { } input)
        {
            return (null, JsonFields.Missing("input", "Send a string, or an array of content parts ({type: \"text\"|\"image_url\"|\"video_url\"})."));
        }
        // What OpenAI clients send for one text (the Vercel AI SDK's embed(), LangChain's embed_query): a one-string array
        // is that string. Two or more strings would be a batch, which this model cannot answer N -> N (below).
        if (input.ValueKind == JsonValueKind.Array && input.GetArrayLength() == 1 && input[0].ValueKind == JsonValueKind.String)
        {
            input = input[0];
        }
        var tokenizer = tokenizers.For(model);
        if (tokenizer is null)
        {
            return (null, InferenceRequestFields.ModelNotInstalled(manifest));
        }

        var media = manifest.Media ?? new MediaRules();
        var parts = new List<InternalEmbeddingPart>();
        long text = 0, visual = 0, video = 0;
        switch (input.ValueKind)
        {
            case JsonValueKind.String:
            {
                var s = input.GetString()!;
                if (s.Length == 0)
                {
                    return Fail("embeddings_empty_input", "'input' is an empty string; send the text to embed.");
                }
                var ids = tokenizer.Encode(s);
                text = ids.Length;
                parts.Add(new InternalEmbeddingPart { Type = "text", TokenIds = ids });
                break;
            }
            case JsonValueKind.Array:
            {
                var items = input.GetArrayLength();
                if (items == 0)
                {
                    return Fail("embeddings_empty_input", "'input' is an empty array; send a string or at least one content part.");
                }
                if (input.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String))
                {
                    return Fail("embeddings_batch_not_supported",
                        "'input' as an array of strings (OpenAI-style batching) is not supported: this model combines all inputs into ONE vector. " +
                        "Send one request per string (loop client-side), or send content parts [{\"type\":\"text\",\"text\":\"...\"}, ...] to get one combined vector.");
                }
                if (input.EnumerateArray().All(e => e.ValueKind is JsonValueKind.Number or JsonValueKind.Array))
                {
                    return Fail("embeddings_token_input_not_supported", "'input' as token ids is not supported; send text.");
                }
                if (manifest.MaxInputItems is { } max && items > max)
                {
                    return Fail("embeddings_too_many_items", $"'input' has {items} parts; model {manifest.Id} accepts at most {max}.");
                }
                var index = 0;
                foreach (var part in input.EnumerateArray())
                {
                    var (workerPart, tokens, error) = ParsePart(part, index, tokenizer, media);
                    if (error is not null)
                    {
                        return (null, error);
                    }
                    parts.Add(workerPart!);
                    switch (workerPart!.Type)
                    {
                        case "text": text += tokens; break;
                        case "image_url": visual += tokens; break;
                        default: video += tokens; break;
                    }
                    index++;
                }
                break;
            }
            default:
                return (null, JsonFields.InvalidType("input", "a string or an array of content parts", input));
        }

        var estimate = new TokenUsage(text, visual, video);
        if (estimate.PromptTokens > manifest.ContextWindow)
        {
            return Fail("embeddings_context_length_exceeded",
                $"The input is {estimate.PromptTokens} tokens (counting videos at their maximum of {media.VideoMaxFrames} frames); model {manifest.Id} accepts at most {manifest.ContextWindow}. Split it into chunks.");
        }
        return (new EmbeddingRequest(modelName, model, parts, estimate, user), null);
    }

    private static (InternalEmbeddingPart? Part, long Tokens, ApiError? Error) ParsePart(JsonElement part, int index, Tokenizers.BpeTokenizer tokenizer, MediaRules media)
    {
        var where = $"input[{index}]";
        if (part.ValueKind != JsonValueKind.Object || !part.TryGetProperty("type", out var typeElement) || typeElement.ValueKind != JsonValueKind.String)
        {
            return PartError("embeddings_invalid_part", $"{where} must be an object with a 'type' of \"text\", \"image_url\" or \"video_url\".");
        }
        var type = typeElement.GetString();
        switch (type)
        {
            case "text":
                if (!part.TryGetProperty("text", out var t) || t.ValueKind != JsonValueKind.String)
                {
                    return PartError("embeddings_invalid_part", $"{where} (text) needs a string 'text'.");
                }
                if (t.GetString()!.Length == 0)
                {
                    return PartError("embeddings_empty_input", $"{where} (text) is empty.");
                }
                var ids = tokenizer.Encode(t.GetString()!);
                return (new InternalEmbeddingPart { Type = "text", TokenIds = ids }, ids.Length, null);
            case "image_url":
            case "video_url":
                if (!part.TryGetProperty(type, out var media0) ||
                    !(media0.ValueKind == JsonValueKind.Object && media0.TryGetProperty("url", out var urlElement) && urlElement.ValueKind == JsonValueKind.String
                      || media0.ValueKind == JsonValueKind.String))
                {
                    return PartError("embeddings_invalid_part", $"{where} ({type}) needs '{type}': {{\"url\": \"https://...\"}}.");
                }
                var url = media0.ValueKind == JsonValueKind.String ? media0.GetString()! : media0.GetProperty("url").GetString()!;
                if (!MediaUrls.IsAcceptable(url))
                {
                    return PartError("invalid_media_url", $"{where} ({type}) must be an http(s) URL or a data: URL.");
                }
                var tokens = type == "image_url" ? media.ImageTokens : (long)media.VideoMaxFrames * media.VideoFrameTokens;
                return (new InternalEmbeddingPart { Type = type, Url = url }, tokens, null);
            default:
                return PartError("embeddings_unknown_part_type", $"{where} has type '{type}'; use \"text\", \"image_url\" or \"video_url\".");
        }
    }

    private static (EmbeddingRequest?, ApiError?) Fail(string code, ErrorText message) => (null, ApiError.InvalidRequest(code, message));

    private static (InternalEmbeddingPart?, long, ApiError?) PartError(string code, ErrorText message) => (null, 0, ApiError.InvalidRequest(code, message));
}
