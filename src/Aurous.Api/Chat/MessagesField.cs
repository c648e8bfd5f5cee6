using System.Text;
using Aurous.Api.Inference;

namespace Aurous.Api.Chat;

/// <summary>
/// The <c>messages</c> field of a chat completion request: each message's role, content (text, or text and image
/// parts), tool calls and tool answers, and the pairing of tool turns across the conversation.
/// </summary>
public static class MessagesField
{
    private static readonly HashSet<string> Roles = ["system", "developer", "user", "assistant", "tool"];

    public static (IReadOnlyList<ChatMessage>? Messages, ApiError? Error) Parse(JsonElement body)
    {
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
        return CheckToolTurns(messages) is { } turnError ? (null, turnError) : (messages, null);
    }

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
}
