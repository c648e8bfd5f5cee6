using System.Text;
using System.Text.Json;

namespace Aurous.Api.Chat;

/// <summary>
/// Renders messages with the ChatML template the model's tokenizer_config.json declares
/// (<c>&lt;|im_start|&gt;role\ncontent&lt;|im_end|&gt;\n</c>, then the assistant's opening). A Jinja engine is not
/// available here; this renderer implements exactly that template, and the loader refuses any other.
/// <para>
/// Tools follow the Hermes convention of Qwen-style instruct models: the function signatures go into the system
/// message inside <c>&lt;tools&gt;&lt;/tools&gt;</c>, the assistant's calls are <c>&lt;tool_call&gt;{"name": ...,
/// "arguments": ...}&lt;/tool_call&gt;</c> blocks (the form the worker's tool-call constraint generates), and tool
/// results go back as a user turn of <c>&lt;tool_response&gt;</c> blocks (consecutive tool messages share one turn).
/// </para>
/// </summary>
public static class ChatTemplate
{
    public const string Start = "<|im_start|>";
    public const string End = "<|im_end|>";
    /// <summary>An image is this block: its visual tokens are the pad tokens, whose embeddings the worker replaces with the vision encoder's features.</summary>
    public const string VisionStart = "<|vision_start|>";
    public const string ImagePad = "<|image_pad|>";
    public const string VisionEnd = "<|vision_end|>";

    public static bool IsChatMl(string? template) => template is not null && template.Contains(Start, StringComparison.Ordinal) && template.Contains(End, StringComparison.Ordinal);

    /// <param name="imageTokens">Visual tokens per image (the model's <c>media.image_tokens</c>).</param>
    public static string Render(IReadOnlyList<ChatMessage> messages, IReadOnlyList<JsonElement>? tools = null, int imageTokens = 0)
    {
        var sb = new StringBuilder();
        var first = 0;
        if (tools is { Count: > 0 })
        {
            // The tool list joins the system (or developer) message, or opens the conversation as one.
            var system = messages.Count > 0 && messages[0].Role is "system" or "developer" ? messages[0].Content : null;
            sb.Append(Start).Append("system\n");
            if (!string.IsNullOrEmpty(system))
            {
                sb.Append(system).Append("\n\n");
            }
            AppendTools(sb, tools);
            sb.Append(End).Append('\n');
            first = system is null ? 0 : 1;
        }
        for (var i = first; i < messages.Count; i++)
        {
            var m = messages[i];
            if (m.Role == "tool")
            {
                if (i == 0 || messages[i - 1].Role != "tool")
                {
                    sb.Append(Start).Append("user");
                }
                sb.Append("\n<tool_response>\n").Append(m.Content).Append("\n</tool_response>");
                if (i + 1 == messages.Count || messages[i + 1].Role != "tool")
                {
                    sb.Append(End).Append('\n');
                }
                continue;
            }
            sb.Append(Start).Append(m.Role).Append('\n');
            AppendContent(sb, m, imageTokens);
            for (var c = 0; c < m.ToolCalls.Count; c++)
            {
                if (c > 0 || m.Content.Length > 0)
                {
                    sb.Append('\n');
                }
                AppendCall(sb, m.ToolCalls[c].Name, m.ToolCalls[c].Arguments);
            }
            sb.Append(End).Append('\n');
        }
        return sb.Append(Start).Append("assistant\n").ToString();
    }

    /// <summary>The text with each image's block at its place.</summary>
    private static void AppendContent(StringBuilder sb, ChatMessage m, int imageTokens)
    {
        var at = 0;
        foreach (var image in m.Images)
        {
            sb.Append(m.Content, at, image.Offset - at).Append(VisionStart);
            for (var i = 0; i < imageTokens; i++)
            {
                sb.Append(ImagePad);
            }
            sb.Append(VisionEnd);
            at = image.Offset;
        }
        sb.Append(m.Content, at, m.Content.Length - at);
    }

    private static void AppendTools(StringBuilder sb, IReadOnlyList<JsonElement> tools)
    {
        sb.Append("# Tools\n\nYou may call one or more of the functions below to help with the request. ")
            .Append("Their signatures, one JSON object per line, are inside <tools></tools>:\n<tools>");
        foreach (var tool in tools)
        {
            sb.Append('\n').Append(JsonSerializer.Serialize(tool));
        }
        sb.Append("\n</tools>\n\nTo call a function, answer with its name and arguments as one JSON object inside <tool_call></tool_call>:\n")
            .Append("<tool_call>\n{\"name\": <function-name>, \"arguments\": <arguments-as-a-json-object>}\n</tool_call>");
    }

    /// <summary>One call exactly as the worker generates it.</summary>
    private static void AppendCall(StringBuilder sb, string name, string arguments) =>
        sb.Append("<tool_call>\n{\"name\": ").Append(JsonSerializer.Serialize(name)).Append(", \"arguments\": ").Append(arguments).Append("}\n</tool_call>");
}

/// <summary>A message of the conversation; an assistant turn may carry tool calls, a tool turn answers one by id.</summary>
public sealed record ChatMessage(string Role, string Content, IReadOnlyList<ChatToolCall> ToolCalls, string? ToolCallId = null, IReadOnlyList<ChatImage>? ImageParts = null)
{
    public ChatMessage(string role, string content) : this(role, content, []) { }

    public IReadOnlyList<ChatImage> Images => ImageParts ?? [];
}

/// <summary>An <c>image_url</c> part: where it sits in the message's text (a character offset) and its URL.</summary>
public sealed record ChatImage(int Offset, string Url);

/// <summary>A function call of an earlier assistant turn: <c>arguments</c> is the JSON text as the client sent it.</summary>
public sealed record ChatToolCall(string Id, string Name, string Arguments);
