using System.Text;
using System.Text.Json;
using Aurous.Api.Inference;
using Aurous.Api.Pipeline;
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

    private static readonly HashSet<string> Roles = ["system", "developer", "user", "assistant", "tool"];

    public static (ChatRequest? Request, ApiError? Error) Parse(JsonElement body, ModelCatalog catalog, ModelTokenizers tokenizers)
    {
        if (body.ValueKind != JsonValueKind.Object)
        {
            return Fail("invalid_request_body", "The request body must be a JSON object.");
        }
        if (JsonFields.UnknownField(body, KnownFields, NotYetSupported) is { } unknown)
        {
            return (null, unknown);
        }

        if (JsonFields.RequiredString(body, "model", "Pass a model id from GET /v1/models, e.g. aurous-grow-2.0-pro.", out var modelName) is { } modelError)
        {
            return (null, modelError);
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

        if (JsonFields.Optional(body, "messages", "an array", out var messagesValue, JsonValueKind.Array) is { } messagesError)
        {
            return (null, messagesError);
        }
        if (messagesValue is not { } messagesElement || messagesElement.GetArrayLength() == 0)
        {
            return (null, JsonFields.Missing("messages", "Send a non-empty array of {role, content} messages."));
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
        if (CheckToolTurns(messages) is { } turnError)
        {
            return (null, turnError);
        }
        var (toolDefinitions, tools, toolsError) = ParseTools(body);
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
        var stop = new List<string>();
        if (JsonFields.Optional(body, "stop", "a string or an array of strings", out var stopValue, JsonValueKind.String, JsonValueKind.Array) is { } stopTypeError)
        {
            return (null, stopTypeError);
        }
        if (stopValue is { } stopElement)
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
        if (JsonFields.OptionalBoolean(body, "stream", out var streamValue) is { } streamError)
        {
            return (null, streamError);
        }
        var stream = streamValue ?? false;
        if (JsonFields.Optional(body, "stream_options", "an object", out _, JsonValueKind.Object) is { } streamOptionsError)
        {
            return (null, streamOptionsError);
        }
        if (JsonFields.OptionalString(body, "user", out var user) is { } userError)
        {
            return (null, userError);
        }
        if (user is not null && (user.Length > 256 || user.Any(char.IsControl)))
        {
            return Fail("invalid_user", "'user' must be a string of at most 256 printable characters.");
        }

        var (responseFormat, formatError) = ParseResponseFormat(body);
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
            return (null, new ApiError(503, "api_error", "model_unavailable", $"Model {manifest.Id} is not installed on this deployment. Retry shortly."));
        }
        var imageUrls = messages.SelectMany(m => m.Images).Select(i => i.Url).ToArray();
        var imageTokens = 0;
        if (imageUrls.Length > 0)
        {
            if (!manifest.Capabilities.Contains("image_input") || manifest.Media is not { } media)
            {
                return Fail("unsupported_content_type", $"Model {manifest.Id} does not accept image input.");
            }
            if (imageUrls.Length > ChatLimits.MaxImages)
            {
                return Fail("too_many_images", $"The messages hold {imageUrls.Length} images; at most {ChatLimits.MaxImages} per request.");
            }
            imageTokens = media.ImageTokens;
        }
        if (ChatTemplate.Encode(tokenizer, messages, toolDefinitions, imageTokens, out var missingMarker) is not { } prompt)
        {
            return (null, new ApiError(503, "api_error", "model_unavailable", $"Model {manifest.Id}'s tokenizer lacks the chat template's {missingMarker} token; it cannot be served."));
        }

        int? requestedMax = null;
        foreach (var name in new[] { "max_completion_tokens", "max_tokens" })
        {
            if (JsonFields.OptionalInteger(body, name, 1, int.MaxValue, "invalid_max_tokens", out var max) is { } maxError)
            {
                return (null, maxError);
            }
            requestedMax ??= (int?)max;
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

    private static readonly HashSet<string> FunctionFields = ["name", "description", "parameters", "strict"];

    /// <summary>
    /// <c>tools</c>, <c>tool_choice</c> and <c>parallel_tool_calls</c>: the definitions to render into the prompt, and
    /// what the worker must enforce (null: no calls, either no tools or <c>tool_choice: "none"</c>). A named function
    /// choice sends only that function, as required. The parameter schemas are compiled (and refused with
    /// <c>unsupported_schema</c>) by the worker, whose constrained decoder enforces them.
    /// </summary>
    private static (IReadOnlyList<JsonElement>?, WorkerToolChoice?, ApiError?) ParseTools(JsonElement body)
    {
        var toolsError = JsonFields.Optional(body, "tools", "an array", out var toolsValue, JsonValueKind.Array);
        var choiceError = JsonFields.Optional(body, "tool_choice", "a string or an object", out var choiceValue, JsonValueKind.String, JsonValueKind.Object);
        var parallelError = JsonFields.OptionalBoolean(body, "parallel_tool_calls", out var parallel);
        if ((toolsError ?? choiceError ?? parallelError) is { } typeError)
        {
            return (null, null, typeError);
        }
        var hasChoice = choiceValue is not null;
        var choice = choiceValue.GetValueOrDefault();
        if (toolsValue is not { } toolsElement)
        {
            return hasChoice ? Error("invalid_tool_choice", "'tool_choice' is only allowed when 'tools' are specified.") : (null, null, null);
        }
        if (toolsElement.GetArrayLength() is 0 or > ChatLimits.MaxTools)
        {
            return Error("invalid_tools", $"'tools' must be an array of 1 to {ChatLimits.MaxTools} {{\"type\": \"function\", \"function\": {{...}}}} objects.");
        }
        var definitions = new List<JsonElement>();
        var workerTools = new List<InternalTool>();
        var i = 0;
        foreach (var tool in toolsElement.EnumerateArray())
        {
            var where = $"tools[{i++}]";
            if (tool.ValueKind != JsonValueKind.Object || !tool.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String || type.GetString() != "function")
            {
                return Error("invalid_tools", $"{where}.type must be \"function\".");
            }
            if (!tool.TryGetProperty("function", out var function) || function.ValueKind != JsonValueKind.Object)
            {
                return Error("invalid_tools", $"{where}.function is required: {{\"name\": \"...\", \"description\": \"...\", \"parameters\": {{...}}}}.");
            }
            if (tool.EnumerateObject().Select(p => p.Name).FirstOrDefault(n => n is not ("type" or "function")) is { } extra)
            {
                return Error("invalid_tools", $"{where}.{extra} is not a known tool field.");
            }
            if (function.EnumerateObject().Select(p => p.Name).FirstOrDefault(n => !FunctionFields.Contains(n)) is { } unknown)
            {
                return Error("invalid_tools", $"{where}.function.{unknown} is not a known function field (name, description, parameters, strict).");
            }
            if (!function.TryGetProperty("name", out var nameElement) || nameElement.ValueKind != JsonValueKind.String || !IsFunctionName(nameElement.GetString()!))
            {
                return Error("invalid_function_name", $"{where}.function.name must be 1-64 characters of a-z, A-Z, 0-9, _ and -.");
            }
            var name = nameElement.GetString()!;
            if (workerTools.Any(t => t.Name == name))
            {
                return Error("duplicate_function_name", $"{where}.function.name '{name}' is declared twice.");
            }
            if (function.TryGetProperty("description", out var description) && description.ValueKind is not (JsonValueKind.String or JsonValueKind.Null))
            {
                return Error("invalid_tools", $"{where}.function.description must be a string.");
            }
            if (function.TryGetProperty("strict", out var strict) && strict.ValueKind is not (JsonValueKind.True or JsonValueKind.False or JsonValueKind.Null))
            {
                return Error("invalid_tools", $"{where}.function.strict must be true or false.");
            }
            JsonElement? parameters = null;
            if (function.TryGetProperty("parameters", out var p) && p.ValueKind != JsonValueKind.Null)
            {
                if (p.ValueKind != JsonValueKind.Object)
                {
                    return Error("invalid_tools", $"{where}.function.parameters must be a JSON Schema object.");
                }
                parameters = p.Clone();
            }
            definitions.Add(tool.Clone());
            workerTools.Add(new InternalTool { Name = name, Parameters = parameters });
        }

        var mode = "auto";
        if (hasChoice)
        {
            if (choice.ValueKind == JsonValueKind.String && choice.GetString() is "none" or "auto" or "required")
            {
                mode = choice.GetString()!;
            }
            else if (choice.ValueKind == JsonValueKind.Object && choice.TryGetProperty("type", out var ct) && ct.ValueKind == JsonValueKind.String && ct.GetString() == "function"
                     && choice.TryGetProperty("function", out var cf) && cf.ValueKind == JsonValueKind.Object
                     && cf.TryGetProperty("name", out var cn) && cn.ValueKind == JsonValueKind.String)
            {
                var named = workerTools.FirstOrDefault(t => t.Name == cn.GetString());
                if (named is null)
                {
                    return Error("invalid_tool_choice", $"'tool_choice' names the function '{cn.GetString()}', which is not in 'tools'.");
                }
                return (definitions, new WorkerToolChoice([named], "required", parallel ?? true), null);
            }
            else
            {
                return Error("invalid_tool_choice",
                    "'tool_choice' must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": \"...\"}}.");
            }
        }
        return (definitions, mode == "none" ? null : new WorkerToolChoice(workerTools, mode, parallel ?? true), null);

        static (IReadOnlyList<JsonElement>?, WorkerToolChoice?, ApiError?) Error(string code, ErrorText message) => (null, null, ApiError.InvalidRequest(code, message));
    }

    private static bool IsFunctionName(string name) => name.Length is > 0 and <= 64 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-');

    /// <summary>
    /// Tool turns must pair up as OpenAI requires: every tool message answers a call of the assistant message just
    /// before its run of tool messages, and every such call is answered before the conversation goes on.
    /// </summary>
    private static ApiError? CheckToolTurns(IReadOnlyList<ChatMessage> messages)
    {
        for (var i = 0; i < messages.Count; i++)
        {
            if (messages[i].ToolCalls.Count == 0)
            {
                if (messages[i].Role == "tool")
                {
                    return ApiError.InvalidRequest("invalid_tool_message",
                        $"messages[{i}]: messages with role 'tool' must answer a preceding assistant message with 'tool_calls'.");
                }
                continue;
            }
            var open = messages[i].ToolCalls.Select(c => c.Id).ToList();
            var j = i + 1;
            for (; j < messages.Count && messages[j].Role == "tool"; j++)
            {
                if (!open.Remove(messages[j].ToolCallId!))
                {
                    return ApiError.InvalidRequest("invalid_tool_message",
                        $"messages[{j}].tool_call_id '{messages[j].ToolCallId}' does not answer a call of messages[{i}] (or answers it twice).");
                }
            }
            if (open.Count > 0)
            {
                return ApiError.InvalidRequest("invalid_tool_message",
                    $"messages[{i}] has 'tool_calls' that no tool message answers: {string.Join(", ", open)}.");
            }
            i = j - 1;
        }
        return null;
    }

    /// <summary>
    /// <c>response_format</c>: text (the default), <c>json_object</c>, or <c>json_schema</c> {name, schema, strict}. The
    /// worker enforces it by constrained decoding and refuses schema keywords outside the documented subset
    /// (400 <c>unsupported_schema</c>, see docs/chat.md).
    /// </summary>
    private static (InternalResponseFormat?, ApiError?) ParseResponseFormat(JsonElement body)
    {
        if (JsonFields.Optional(body, "response_format", "an object", out var rfValue, JsonValueKind.Object) is { } typeError)
        {
            return (null, typeError);
        }
        if (rfValue is not { } rf)
        {
            return (null, null);
        }
        if (!rf.TryGetProperty("type", out var typeElement) || typeElement.ValueKind != JsonValueKind.String)
        {
            return (null, ApiError.InvalidRequest("invalid_response_format", "'response_format' must be {\"type\": \"text\" | \"json_object\" | \"json_schema\"}."));
        }
        switch (typeElement.GetString())
        {
            case "text":
                return (null, null);
            case "json_object":
                return (new InternalResponseFormat { Type = "json_object" }, null);
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
                return (new InternalResponseFormat { Type = "json_schema", Schema = schema.Clone() }, null);
            default:
                return (null, ApiError.InvalidRequest("invalid_response_format", $"'response_format.type' '{typeElement.GetString()}' is not one of text, json_object, json_schema."));
        }
    }

    private static (ChatMessage?, ApiError?) ParseMessage(JsonElement m, int index)
    {
        var where = $"messages[{index}]";
        if (m.ValueKind != JsonValueKind.Object)
        {
            return (null, JsonFields.InvalidType(where, "an object", m));
        }
        if (!JsonFields.TryGet(m, "role", out var roleElement))
        {
            return (null, ApiError.InvalidRequest("invalid_message", $"{where} must be an object with a 'role'."));
        }
        if (roleElement.ValueKind != JsonValueKind.String)
        {
            return (null, JsonFields.InvalidType($"{where}.role", "a string", roleElement));
        }
        var role = roleElement.GetString()!;
        if (!Roles.Contains(role))
        {
            return (null, ApiError.InvalidRequest("invalid_role", $"{where}.role '{role}' is not one of system, developer, user, assistant, tool."));
        }
        string? toolCallId = null;
        if (role == "tool")
        {
            if (!(m.TryGetProperty("tool_call_id", out var id) && id.ValueKind == JsonValueKind.String && id.GetString()!.Length > 0))
            {
                return (null, ApiError.InvalidRequest("invalid_message", $"{where} (tool) needs a 'tool_call_id'."));
            }
            toolCallId = id.GetString();
        }
        IReadOnlyList<ChatToolCall> calls = [];
        if (m.TryGetProperty("tool_calls", out var callsElement) && callsElement.ValueKind != JsonValueKind.Null)
        {
            if (role != "assistant")
            {
                return (null, ApiError.InvalidRequest("invalid_message", $"{where}: only assistant messages carry 'tool_calls'."));
            }
            var (parsed, callsError) = ParseToolCalls(callsElement, where);
            if (callsError is not null)
            {
                return (null, callsError);
            }
            calls = parsed!;
        }
        if (!m.TryGetProperty("content", out var content) || content.ValueKind == JsonValueKind.Null)
        {
            // An assistant turn that only calls tools has no content.
            return calls.Count > 0
                ? (new ChatMessage(role, "", calls), null)
                : (null, ApiError.InvalidRequest("invalid_message", $"{where} needs 'content'."));
        }
        if (content.ValueKind == JsonValueKind.String)
        {
            return (new ChatMessage(role, content.GetString()!, calls, toolCallId), null);
        }
        if (content.ValueKind != JsonValueKind.Array)
        {
            return (null, JsonFields.InvalidType($"{where}.content", "a string or an array of content parts", content));
        }
        var text = new StringBuilder();
        var images = new List<ChatImage>();
        var part = 0;
        foreach (var p in content.EnumerateArray())
        {
            var at = $"{where}.content[{part++}]";
            var type = p.ValueKind == JsonValueKind.Object && p.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
            switch (type)
            {
                case "text" when p.TryGetProperty("text", out var pt) && pt.ValueKind == JsonValueKind.String:
                    text.Append(pt.GetString());
                    break;
                case "image_url":
                    if (role != "user")
                    {
                        return (null, ApiError.InvalidRequest("invalid_content_part", $"{at}: images are only allowed in user messages."));
                    }
                    if (!p.TryGetProperty("image_url", out var image) || image.ValueKind != JsonValueKind.Object
                        || !image.TryGetProperty("url", out var url) || url.ValueKind != JsonValueKind.String)
                    {
                        return (null, ApiError.InvalidRequest("invalid_content_part", $"{at} (image_url) needs 'image_url': {{\"url\": \"https://...\"}}."));
                    }
                    if (!MediaUrls.IsAcceptable(url.GetString()!))
                    {
                        return (null, ApiError.InvalidRequest("invalid_media_url", $"{at}.image_url.url must be an http(s) URL or a data: URL."));
                    }
                    if (image.TryGetProperty("detail", out var detail) && detail.ValueKind != JsonValueKind.Null
                        && !(detail.ValueKind == JsonValueKind.String && detail.GetString() is "auto" or "low" or "high"))
                    {
                        return (null, ApiError.InvalidRequest("invalid_content_part", $"{at}.image_url.detail must be \"auto\", \"low\" or \"high\"."));
                    }
                    images.Add(new ChatImage(text.Length, url.GetString()!));
                    break;
                default:
                    return (null, ApiError.InvalidRequest("invalid_content_part",
                        $"{at} must be {{\"type\":\"text\",\"text\":\"...\"}} or {{\"type\":\"image_url\",\"image_url\":{{\"url\":\"...\"}}}}."));
            }
        }
        return (new ChatMessage(role, text.ToString(), calls, toolCallId, images), null);
    }

    /// <summary>An assistant message's <c>tool_calls</c>: <c>[{"id", "type": "function", "function": {"name", "arguments"}}]</c>.</summary>
    private static (IReadOnlyList<ChatToolCall>?, ApiError?) ParseToolCalls(JsonElement calls, string where)
    {
        if (calls.ValueKind != JsonValueKind.Array)
        {
            return (null, ApiError.InvalidRequest("invalid_message", $"{where}.tool_calls must be an array."));
        }
        var list = new List<ChatToolCall>();
        var i = 0;
        foreach (var call in calls.EnumerateArray())
        {
            var at = $"{where}.tool_calls[{i++}]";
            if (call.ValueKind != JsonValueKind.Object
                || !call.TryGetProperty("id", out var id) || id.ValueKind != JsonValueKind.String || id.GetString()!.Length == 0
                || !call.TryGetProperty("function", out var function) || function.ValueKind != JsonValueKind.Object
                || !function.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String
                || !function.TryGetProperty("arguments", out var arguments) || arguments.ValueKind != JsonValueKind.String
                || (call.TryGetProperty("type", out var type) && type.ValueKind != JsonValueKind.Null && type.GetString() != "function"))
            {
                return (null, ApiError.InvalidRequest("invalid_message",
                    $"{at} must be {{\"id\": \"...\", \"type\": \"function\", \"function\": {{\"name\": \"...\", \"arguments\": \"<JSON text>\"}}}}."));
            }
            string canonical;
            try
            {
                // Re-serialised compactly, as the model writes arguments.
                using var doc = JsonDocument.Parse(arguments.GetString()!);
                canonical = JsonSerializer.Serialize(doc.RootElement);
            }
            catch (JsonException)
            {
                return (null, ApiError.InvalidRequest("invalid_message", $"{at}.function.arguments must be a string of JSON."));
            }
            if (list.Any(c => c.Id == id.GetString()))
            {
                return (null, ApiError.InvalidRequest("invalid_message", $"{at}.id '{id.GetString()}' is used twice."));
            }
            list.Add(new ChatToolCall(id.GetString()!, name.GetString()!, canonical));
        }
        return (list, null);
    }

    private static (ChatRequest?, ApiError?) Fail(string code, ErrorText message) => (null, ApiError.InvalidRequest(code, message));
}

/// <summary>What the worker enforces: the callable functions, <c>auto</c> or <c>required</c>, and whether calls may be parallel.</summary>
public sealed record WorkerToolChoice(IReadOnlyList<InternalTool> Tools, string Mode, bool Parallel);
