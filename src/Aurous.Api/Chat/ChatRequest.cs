using System.Text;
using System.Text.Json;
using Aurous.Api.Inference;
using Aurous.Api.Pipeline;
using Aurous.Models;

namespace Aurous.Api.Chat;

/// <summary>A validated POST /v1/chat/completions body, its prompt tokenised with the model's own tokenizer.</summary>
public sealed record ChatRequest(
    string RequestedModel, CatalogModel Model, int[] PromptTokenIds, int MaxTokens, double Temperature, double TopP,
    long? Seed, IReadOnlyList<string> Stop, bool Stream, string? User, WorkerResponseFormat? ResponseFormat, int ReasoningBudget = 0)
{
    /// <summary>
    /// <c>reasoning_effort</c> -> thinking-token budget: the worker reasons (hidden, billed as output) for at most this
    /// many tokens before the visible answer. <c>none</c> / <c>minimal</c>: no reasoning.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, int> ReasoningBudgets = new Dictionary<string, int>
    {
        ["none"] = 0, ["minimal"] = 0, ["low"] = 16, ["medium"] = 64, ["high"] = 256,
    };

    /// <summary>Forced around the reasoning by the worker; they take room in the context (not billed).</summary>
    public const string ThinkOpen = "<think>\n";
    public const string ThinkClose = "\n</think>\n\n";

    /// <summary>Completion budget when the request sets none: enough for a long answer, small enough to hold credits for.</summary>
    public const int DefaultMaxTokens = 4096;

    private static readonly HashSet<string> KnownFields =
    [
        "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "seed", "stop", "n", "user", "stream", "stream_options",
        "response_format", "reasoning_effort",
    ];

    /// <summary>Parameters of the OpenAI surface this deployment does not serve yet: refused clearly rather than ignored.</summary>
    private static readonly HashSet<string> NotYetSupported =
    [
        "tools", "tool_choice", "parallel_tool_calls", "functions", "function_call",
        "logprobs", "top_logprobs", "logit_bias", "frequency_penalty", "presence_penalty", "audio", "modalities", "prediction",
    ];

    private static readonly HashSet<string> Roles = ["system", "developer", "user", "assistant", "tool"];

    public static (ChatRequest? Request, ApiError? Error) Parse(JsonElement body, ModelCatalog catalog, ModelTokenizers tokenizers)
    {
        if (body.ValueKind != JsonValueKind.Object)
        {
            return Fail("invalid_request_body", "The request body must be a JSON object.");
        }
        foreach (var property in body.EnumerateObject())
        {
            if (NotYetSupported.Contains(property.Name))
            {
                return Fail("unsupported_parameter", $"'{property.Name}' is not supported by this deployment yet.");
            }
            if (!KnownFields.Contains(property.Name))
            {
                return Fail("unknown_parameter", $"Unrecognized request argument supplied: {property.Name}.");
            }
        }

        if (!body.TryGetProperty("model", out var modelElement) || modelElement.ValueKind != JsonValueKind.String || modelElement.GetString() is not { Length: > 0 } modelName)
        {
            return Fail("missing_required_parameter", "'model' is required, e.g. aurous-grow-2.0-pro.");
        }
        if (!catalog.TryResolve(modelName, out var model))
        {
            return (null, ApiError.NotFound("model_not_found", $"The model '{modelName}' does not exist. GET /v1/models lists the available models."));
        }
        var manifest = model.Manifest;
        if (manifest.Kind != ModelKind.Chat)
        {
            return Fail("model_not_supported", $"Model {manifest.Id} is a {manifest.Kind.ToString().ToLowerInvariant()} model; POST /v1/chat/completions needs a chat model.");
        }

        if (!body.TryGetProperty("messages", out var messagesElement) || messagesElement.ValueKind != JsonValueKind.Array || messagesElement.GetArrayLength() == 0)
        {
            return Fail("missing_required_parameter", "'messages' is required: a non-empty array of {role, content} messages.");
        }
        var messages = new List<ChatMessage>();
        var index = 0;
        foreach (var m in messagesElement.EnumerateArray())
        {
            var (message, error) = ParseMessage(m, index++);
            if (error is not null)
            {
                return (null, error);
            }
            messages.Add(message!);
        }

        if (body.TryGetProperty("n", out var n) && n.ValueKind != JsonValueKind.Null && !(n.ValueKind == JsonValueKind.Number && n.TryGetInt32(out var count) && count == 1))
        {
            return Fail("n_not_supported", "Only n = 1 is supported: send one request per choice.");
        }
        if (!Number(body, "temperature", 0, 2, 1.0, out var temperature))
        {
            return Fail("invalid_temperature", "'temperature' must be a number from 0 to 2.");
        }
        if (!Number(body, "top_p", 0, 1, 1.0, out var topP) || topP == 0)
        {
            return Fail("invalid_top_p", "'top_p' must be a number greater than 0 and at most 1.");
        }
        long? seed = null;
        if (body.TryGetProperty("seed", out var seedElement) && seedElement.ValueKind != JsonValueKind.Null)
        {
            if (seedElement.ValueKind != JsonValueKind.Number || !seedElement.TryGetInt64(out var s))
            {
                return Fail("invalid_seed", "'seed' must be an integer.");
            }
            seed = s;
        }
        var stop = new List<string>();
        if (body.TryGetProperty("stop", out var stopElement) && stopElement.ValueKind != JsonValueKind.Null)
        {
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
                return Fail("invalid_stop", "'stop' must be a string or an array of at most 4 strings.");
            }
            if (stop.Any(s => s.Length == 0))
            {
                return Fail("invalid_stop", "'stop' sequences must not be empty.");
            }
        }
        var stream = false;
        if (body.TryGetProperty("stream", out var streamElement) && streamElement.ValueKind != JsonValueKind.Null)
        {
            if (streamElement.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
            {
                return Fail("invalid_stream", "'stream' must be true or false.");
            }
            stream = streamElement.GetBoolean();
        }
        if (body.TryGetProperty("stream_options", out var so) && so.ValueKind != JsonValueKind.Null && so.ValueKind != JsonValueKind.Object)
        {
            return Fail("invalid_stream_options", "'stream_options' must be an object such as {\"include_usage\": true}.");
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

        var (responseFormat, formatError) = ParseResponseFormat(body);
        if (formatError is not null)
        {
            return (null, formatError);
        }

        var reasoningBudget = 0;
        if (body.TryGetProperty("reasoning_effort", out var effortElement) && effortElement.ValueKind != JsonValueKind.Null)
        {
            if (effortElement.ValueKind != JsonValueKind.String || !ReasoningBudgets.TryGetValue(effortElement.GetString()!, out reasoningBudget))
            {
                return Fail("invalid_reasoning_effort", "'reasoning_effort' must be one of none, minimal, low, medium, high.");
            }
        }

        var tokenizer = tokenizers.For(model);
        if (tokenizer is null)
        {
            return (null, new ApiError(503, "api_error", "model_unavailable", $"Model {manifest.Id} is not installed on this deployment. Retry shortly."));
        }
        var prompt = tokenizer.Encode(ChatTemplate.Render(messages));

        int? requestedMax = null;
        foreach (var name in new[] { "max_completion_tokens", "max_tokens" })
        {
            if (body.TryGetProperty(name, out var maxElement) && maxElement.ValueKind != JsonValueKind.Null)
            {
                if (maxElement.ValueKind != JsonValueKind.Number || !maxElement.TryGetInt32(out var max) || max < 1)
                {
                    return Fail("invalid_max_tokens", $"'{name}' must be a positive integer.");
                }
                requestedMax ??= max;
            }
        }
        var overhead = reasoningBudget > 0 ? tokenizer.CountTokens(ThinkOpen) + tokenizer.CountTokens(ThinkClose) : 0;
        var room = manifest.ContextWindow - prompt.Length - overhead;
        if (room < 1 || requestedMax > room)
        {
            return Fail("context_length_exceeded",
                $"The prompt is {prompt.Length} tokens and {requestedMax ?? 1} more were asked for; model {manifest.Id} has a context of {manifest.ContextWindow} tokens.");
        }
        var maxTokens = requestedMax ?? Math.Min(DefaultMaxTokens, room);
        return (new ChatRequest(modelName, model, prompt, maxTokens, temperature, topP, seed, stop, stream, user, responseFormat, reasoningBudget), null);
    }

    /// <summary>
    /// <c>response_format</c>: text (the default), <c>json_object</c>, or <c>json_schema</c> {name, schema, strict}. The
    /// worker enforces it by constrained decoding and refuses schema keywords outside the documented subset
    /// (400 <c>unsupported_schema</c>, see docs/chat.md).
    /// </summary>
    private static (WorkerResponseFormat?, ApiError?) ParseResponseFormat(JsonElement body)
    {
        if (!body.TryGetProperty("response_format", out var rf) || rf.ValueKind == JsonValueKind.Null)
        {
            return (null, null);
        }
        if (rf.ValueKind != JsonValueKind.Object || !rf.TryGetProperty("type", out var typeElement) || typeElement.ValueKind != JsonValueKind.String)
        {
            return (null, ApiError.InvalidRequest("invalid_response_format", "'response_format' must be {\"type\": \"text\" | \"json_object\" | \"json_schema\"}."));
        }
        switch (typeElement.GetString())
        {
            case "text":
                return (null, null);
            case "json_object":
                return (new WorkerResponseFormat("json_object", null), null);
            case "json_schema":
                if (!rf.TryGetProperty("json_schema", out var js) || js.ValueKind != JsonValueKind.Object)
                {
                    return (null, ApiError.InvalidRequest("invalid_response_format", "'response_format.json_schema' is required: {\"name\": \"...\", \"schema\": {...}}."));
                }
                if (!js.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String || name.GetString() is not { Length: > 0 and <= 64 } n
                    || n.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '_' or '-')))
                {
                    return (null, ApiError.InvalidRequest("invalid_response_format", "'response_format.json_schema.name' must be 1-64 characters of a-z, A-Z, 0-9, _ and -."));
                }
                if (!js.TryGetProperty("schema", out var schema) || schema.ValueKind != JsonValueKind.Object)
                {
                    return (null, ApiError.InvalidRequest("invalid_response_format", "'response_format.json_schema.schema' must be a JSON Schema object."));
                }
                return (new WorkerResponseFormat("json_schema", schema.Clone()), null);
            default:
                return (null, ApiError.InvalidRequest("invalid_response_format", $"'response_format.type' '{typeElement.GetString()}' is not one of text, json_object, json_schema."));
        }
    }

    private static (ChatMessage?, ApiError?) ParseMessage(JsonElement m, int index)
    {
        var where = $"messages[{index}]";
        if (m.ValueKind != JsonValueKind.Object || !m.TryGetProperty("role", out var roleElement) || roleElement.ValueKind != JsonValueKind.String)
        {
            return (null, ApiError.InvalidRequest("invalid_message", $"{where} must be an object with a 'role'."));
        }
        var role = roleElement.GetString()!;
        if (!Roles.Contains(role))
        {
            return (null, ApiError.InvalidRequest("invalid_role", $"{where}.role '{role}' is not one of system, developer, user, assistant, tool."));
        }
        if (role == "tool" && !(m.TryGetProperty("tool_call_id", out var id) && id.ValueKind == JsonValueKind.String))
        {
            return (null, ApiError.InvalidRequest("invalid_message", $"{where} (tool) needs a 'tool_call_id'."));
        }
        if (!m.TryGetProperty("content", out var content) || content.ValueKind == JsonValueKind.Null)
        {
            return (null, ApiError.InvalidRequest("invalid_message", $"{where} needs 'content'."));
        }
        if (content.ValueKind == JsonValueKind.String)
        {
            return (new ChatMessage(role, content.GetString()!), null);
        }
        if (content.ValueKind != JsonValueKind.Array)
        {
            return (null, ApiError.InvalidRequest("invalid_message", $"{where}.content must be a string or an array of content parts."));
        }
        var text = new StringBuilder();
        var part = 0;
        foreach (var p in content.EnumerateArray())
        {
            var type = p.ValueKind == JsonValueKind.Object && p.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
            switch (type)
            {
                case "text" when p.TryGetProperty("text", out var pt) && pt.ValueKind == JsonValueKind.String:
                    text.Append(pt.GetString());
                    break;
                case "image_url":
                    return (null, ApiError.InvalidRequest("unsupported_content_type", $"{where}.content[{part}]: image input is not supported by this deployment yet."));
                default:
                    return (null, ApiError.InvalidRequest("invalid_content_part", $"{where}.content[{part}] must be {{\"type\":\"text\",\"text\":\"...\"}}."));
            }
            part++;
        }
        return (new ChatMessage(role, text.ToString()), null);
    }

    private static bool Number(JsonElement body, string name, double min, double max, double fallback, out double value)
    {
        value = fallback;
        if (!body.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null)
        {
            return true;
        }
        if (e.ValueKind != JsonValueKind.Number || !e.TryGetDouble(out value))
        {
            return false;
        }
        return value >= min && value <= max;
    }

    private static (ChatRequest?, ApiError?) Fail(string code, string message) => (null, ApiError.InvalidRequest(code, message));
}
