using Aurous.Api.Inference;
using Aurous.Inference.Contracts;
using Aurous.Models;

namespace Aurous.Api.Chat;

/// <summary>A validated POST /v1/chat/completions body, its prompt tokenised with the model's own tokenizer.</summary>
public sealed record ChatRequest(
    string RequestedModel, CatalogModel Model, int[] PromptTokenIds, int MaxTokens, double Temperature, double TopP,
    long? Seed, IReadOnlyList<string> Stop, bool Stream, string? User, InternalResponseFormat? ResponseFormat, int ReasoningBudget = 0,
    WorkerToolChoice? Tools = null, IReadOnlyList<string>? ImageUrls = null, int VisualTokens = 0)
{
    /// <summary>
    /// <c>reasoning_effort</c> -> thinking-token budget: the worker reasons (hidden, billed as output) for at most this
    /// many tokens before the visible answer. <c>none</c> / <c>minimal</c>: no reasoning.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, int> ReasoningBudgets = new Dictionary<string, int>
    {
        ["none"] = 0, ["minimal"] = 0, ["low"] = 16, ["medium"] = 64, ["high"] = 256,
    };

    /// <summary>Completion budget when the request sets none: enough for a long answer, small enough to hold credits for.</summary>
    public const int DefaultMaxTokens = 4096;

    private static readonly HashSet<string> KnownFields =
    [
        "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "seed", "stop", "n", "user", "stream", "stream_options",
        "response_format", "reasoning_effort", "tools", "tool_choice", "parallel_tool_calls",
    ];

    /// <summary>Parameters of the OpenAI surface this deployment does not serve yet: refused clearly rather than ignored.</summary>
    private static readonly HashSet<string> NotYetSupported =
    [
        "functions", "function_call",
        "logprobs", "top_logprobs", "logit_bias", "frequency_penalty", "presence_penalty", "audio", "modalities", "prediction",
    ];

    public static (ChatRequest? Request, ApiError? Error) Parse(JsonElement body, ModelCatalog catalog, ModelTokenizers tokenizers)
    {
        if (InferenceRequestFields.KnownObject(body, KnownFields, NotYetSupported) is { } bodyError)
        {
            return (null, bodyError);
        }
        if (InferenceRequestFields.RequiredModel(body, catalog, ModelKind.Chat, "/v1/chat/completions",
                "Pass a model id from GET /v1/models, e.g. aurous-grow-2.0-pro.", out var modelName, out var model) is { } modelError)
        {
            return (null, modelError);
        }
        var manifest = model.Manifest;

        var (parsedMessages, messagesError) = MessagesField.Parse(body);
        if (messagesError is not null)
        {
            return (null, messagesError);
        }
        var messages = parsedMessages!;
        var (toolDefinitions, tools, toolsError) = ToolsField.Parse(body);
        if (toolsError is not null)
        {
            return (null, toolsError);
        }

        if (JsonFields.OptionalInteger(body, "n", 1, 1, "n_not_supported", out _, "Only n = 1 is supported: send one request per choice.") is { } nError)
        {
            return (null, nError);
        }
        if (JsonFields.OptionalNumber(body, "temperature", 0, 2, "invalid_temperature", "'temperature' must be a number from 0 to 2.", out var temperatureValue) is { } temperatureError)
        {
            return (null, temperatureError);
        }
        var temperature = temperatureValue ?? 1.0;
        if (JsonFields.OptionalNumber(body, "top_p", double.Epsilon, 1, "invalid_top_p", "'top_p' must be a number greater than 0 and at most 1.", out var topPValue) is { } topPError)
        {
            return (null, topPError);
        }
        var topP = topPValue ?? 1.0;
        if (JsonFields.OptionalInteger(body, "seed", long.MinValue, long.MaxValue, "invalid_seed", out var seed) is { } seedError)
        {
            return (null, seedError);
        }
        if (ParseStop(body, out var stop) is { } stopError)
        {
            return (null, stopError);
        }
        if (JsonFields.OptionalBoolean(body, "stream", out var streamValue) is { } streamError)
        {
            return (null, streamError);
        }
        var stream = streamValue ?? false;
        if (JsonFields.Optional(body, "stream_options", "an object", out _, JsonValueKind.Object) is { } streamOptionsError)
        {
            return (null, streamOptionsError);
        }
        if (InferenceRequestFields.User(body, out var user) is { } userError)
        {
            return (null, userError);
        }

        var (responseFormat, formatError) = ResponseFormatField.Parse(body);
        if (formatError is not null)
        {
            return (null, formatError);
        }

        if (JsonFields.OptionalString(body, "reasoning_effort", out var effort) is { } effortError)
        {
            return (null, effortError);
        }
        var reasoningBudget = 0;
        if (effort is not null && !ReasoningBudgets.TryGetValue(effort, out reasoningBudget))
        {
            return Fail("invalid_reasoning_effort", "'reasoning_effort' must be one of none, minimal, low, medium, high.");
        }

        var tokenizer = tokenizers.For(model);
        if (tokenizer is null)
        {
            return (null, InferenceRequestFields.ModelNotInstalled(manifest));
        }
        if (CheckImages(messages, manifest, out var imageUrls, out var imageTokens) is { } imageError)
        {
            return (null, imageError);
        }
        if (ChatTemplate.Encode(tokenizer, messages, toolDefinitions, imageTokens, out var missingMarker) is not { } prompt)
        {
            return (null, new ApiError(503, "api_error", "model_unavailable", $"Model {manifest.Id}'s tokenizer lacks the chat template's {missingMarker} token; it cannot be served."));
        }

        if (RequestedMaxTokens(body, out var requestedMax) is { } maxError)
        {
            return (null, maxError);
        }
        var overhead = reasoningBudget > 0 ? tokenizer.CountTokens(ReasoningBlock.Open) + tokenizer.CountTokens(ReasoningBlock.Close) : 0;
        var room = manifest.ContextWindow - prompt.Length - overhead;
        if (room < 1 || requestedMax > room)
        {
            return Fail("context_length_exceeded",
                $"The prompt is {prompt.Length} tokens and {requestedMax ?? 1} more were asked for; model {manifest.Id} has a context of {manifest.ContextWindow} tokens.");
        }
        var maxTokens = requestedMax ?? Math.Min(DefaultMaxTokens, room);
        return (new ChatRequest(modelName, model, prompt, maxTokens, temperature, topP, seed, stop, stream, user, responseFormat, reasoningBudget, tools,
            imageUrls, imageUrls.Length * imageTokens), null);
    }

    /// <summary>The images of the messages: the model must take image input, at most <see cref="ChatLimits.MaxImages"/>, each worth the model's visual tokens.</summary>
    private static ApiError? CheckImages(IReadOnlyList<ChatMessage> messages, ModelManifest manifest, out string[] imageUrls, out int imageTokens)
    {
        imageUrls = messages.SelectMany(m => m.Images).Select(i => i.Url).ToArray();
        imageTokens = 0;
        if (imageUrls.Length == 0)
        {
            return null;
        }
        if (!manifest.Capabilities.Contains("image_input") || manifest.Media is not { } media)
        {
            return ApiError.InvalidRequest("unsupported_content_type", $"Model {manifest.Id} does not accept image input.");
        }
        if (imageUrls.Length > ChatLimits.MaxImages)
        {
            return ApiError.InvalidRequest("too_many_images", $"The messages hold {imageUrls.Length} images; at most {ChatLimits.MaxImages} per request.");
        }
        imageTokens = media.ImageTokens;
        return null;
    }

    /// <summary><c>max_completion_tokens</c>, or the older <c>max_tokens</c> (both are checked; the first one given counts).</summary>
    private static ApiError? RequestedMaxTokens(JsonElement body, out int? requestedMax)
    {
        requestedMax = null;
        foreach (var name in new[] { "max_completion_tokens", "max_tokens" })
        {
            if (JsonFields.OptionalInteger(body, name, 1, int.MaxValue, "invalid_max_tokens", out var max) is { } maxError)
            {
                return maxError;
            }
            requestedMax ??= (int?)max;
        }
        return null;
    }

    /// <summary><c>stop</c>: a string or up to 4 non-empty strings.</summary>
    private static ApiError? ParseStop(JsonElement body, out List<string> stop)
    {
        stop = [];
        if (JsonFields.Optional(body, "stop", "a string or an array of strings", out var stopValue, JsonValueKind.String, JsonValueKind.Array) is { } typeError)
        {
            return typeError;
        }
        if (stopValue is not { } stopElement)
        {
            return null;
        }
        if (stopElement.ValueKind == JsonValueKind.String)
        {
            stop.Add(stopElement.GetString()!);
        }
        else if (stopElement.ValueKind == JsonValueKind.Array && stopElement.GetArrayLength() <= 4 && stopElement.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String))
        {
            stop.AddRange(stopElement.EnumerateArray().Select(e => e.GetString()!));
        }
        else
        {
            return ApiError.InvalidRequest("invalid_stop", "'stop' must be a string or an array of at most 4 strings.");
        }
        return stop.Any(s => s.Length == 0) ? ApiError.InvalidRequest("invalid_stop", "'stop' sequences must not be empty.") : null;
    }

    private static (ChatRequest?, ApiError?) Fail(string code, ErrorText message) => (null, ApiError.InvalidRequest(code, message));
}
