using System.Text.Json;
using Aurous.Api.Inference;
using Aurous.Api.Metering;
using Aurous.Api.Pipeline;
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
        if (body.ValueKind != JsonValueKind.Object)
        {
            return Fail("invalid_request_body", "The request body must be a JSON object.");
        }
        foreach (var property in body.EnumerateObject())
        {
            if (!KnownFields.Contains(property.Name))
            {
                return Fail("unknown_parameter", $"Unrecognized request argument supplied: {property.Name}.");
            }
        }

        if (!body.TryGetProperty("model", out var modelElement) || modelElement.ValueKind != JsonValueKind.String || modelElement.GetString() is not { Length: > 0 } modelName)
        {
            return Fail("missing_required_parameter", "'model' is required: pass a model id from GET /v1/models, e.g. aurous-embed-vision-1.0.");
        }
        if (!catalog.TryResolve(modelName, out var model))
        {
            return (null, ApiError.NotFound("model_not_found", $"The model '{modelName}' does not exist. GET /v1/models lists the available models."));
        }
        var manifest = model.Manifest;
        if (manifest.Kind != ModelKind.Embedding)
        {
            return Fail("model_not_supported", $"Model {manifest.Id} is a {manifest.Kind.ToString().ToLowerInvariant()} model; POST /v1/embeddings needs an embedding model.");
        }

        if (body.TryGetProperty("dimensions", out var dims) && dims.ValueKind != JsonValueKind.Null)
        {
            if (dims.ValueKind != JsonValueKind.Number || !dims.TryGetInt32(out var requested))
            {
                return Fail("invalid_dimensions", "'dimensions' must be an integer.");
            }
            if (manifest.Dimensions is not { Count: > 0 } supported)
            {
                return Fail("embeddings_unsupported_dimensions", $"Model {manifest.Id} does not accept the dimensions parameter; received {requested}.");
            }
            if (!supported.Contains(requested))
            {
                return Fail("embeddings_unsupported_dimensions",
                    $"Model {manifest.Id} only accepts {string.Join(", ", supported)} for dimensions; received {requested}.");
            }
        }

        if (body.TryGetProperty("encoding_format", out var format) && format.ValueKind != JsonValueKind.Null
            && !(format.ValueKind == JsonValueKind.String && format.GetString() is "float" or "base64"))
        {
            return Fail("invalid_encoding_format", "'encoding_format' must be \"float\" or \"base64\".");
        }

        string? user = null;
        if (body.TryGetProperty("user", out var userElement) && userElement.ValueKind != JsonValueKind.Null)
        {
            if (userElement.ValueKind != JsonValueKind.String || userElement.GetString()!.Length > 256 || userElement.GetString()!.Any(char.IsControl))
            {
                return Fail("invalid_user", "'user' must be a string of at most 256 printable characters.");
            }
            user = userElement.GetString();
        }

        if (!body.TryGetProperty("input", out var input) || input.ValueKind == JsonValueKind.Null)
        {
            return Fail("missing_required_parameter", "'input' is required: a string, or an array of content parts ({type: \"text\"|\"image_url\"|\"video_url\"}).");
        }
        var tokenizer = tokenizers.For(model);
        if (tokenizer is null)
        {
            return (null, new ApiError(503, "api_error", "model_unavailable", $"Model {manifest.Id} is not installed on this deployment. Retry shortly."));
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
                return Fail("invalid_input", "'input' must be a string or an array of content parts.");
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

    private static (EmbeddingRequest?, ApiError?) Fail(string code, string message) => (null, ApiError.InvalidRequest(code, message));

    private static (InternalEmbeddingPart?, long, ApiError?) PartError(string code, string message) => (null, 0, ApiError.InvalidRequest(code, message));
}
