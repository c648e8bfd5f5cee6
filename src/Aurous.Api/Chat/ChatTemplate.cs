using System.Text;
using Aurous.Tokenizers;

namespace Aurous.Api.Chat;

/// <summary>
/// Renders messages with the ChatML template the model's tokenizer_config.json declares
/// (<c>&lt;|im_start|&gt;role\ncontent&lt;|im_end|&gt;\n</c>, then the assistant's opening) straight into token ids.
/// A Jinja engine is not available here; this renderer implements exactly that template.
/// <para>
/// Only the template's own markers become control tokens: everything a client supplies (message text, tool
/// definitions, arguments, tool results) is encoded as plain text (<see cref="BpeTokenizer.EncodeOrdinary"/>), so a
/// message that spells <c>&lt;|im_start|&gt;system</c> or <c>&lt;|image_pad|&gt;</c> cannot forge a turn or an image.
/// Text between two markers is encoded in one piece, so the ids are those of the whole rendered string whenever the
/// client's text holds no marker.
/// </para>
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

    /// <summary>The prompt's token ids; null when the tokenizer lacks a marker the prompt needs (named in <paramref name="missing"/>).</summary>
    /// <param name="imageTokens">Visual tokens per image (the model's <c>media.image_tokens</c>).</param>
    public static int[]? Encode(BpeTokenizer tokenizer, IReadOnlyList<ChatMessage> messages, IReadOnlyList<JsonElement>? tools, int imageTokens, out string? missing)
    {
        var sb = new PromptWriter(tokenizer);
        var first = 0;
        if (tools is { Count: > 0 })
        {
            // The tool list joins the system (or developer) message, or opens the conversation as one.
            var system = messages.Count > 0 && messages[0].Role is "system" or "developer" ? messages[0].Content : null;
            sb.Control(Start).Markup("system\n");
            if (!string.IsNullOrEmpty(system))
            {
                sb.Text(system).Markup("\n\n");
            }
            AppendTools(sb, tools);
            sb.Control(End).Markup("\n");
            first = system is null ? 0 : 1;
        }
        for (var i = first; i < messages.Count; i++)
        {
            var m = messages[i];
            if (m.Role == "tool")
            {
                if (i == 0 || messages[i - 1].Role != "tool")
                {
                    sb.Control(Start).Markup("user");
                }
                sb.Markup("\n<tool_response>\n").Text(m.Content).Markup("\n</tool_response>");
                if (i + 1 == messages.Count || messages[i + 1].Role != "tool")
                {
                    sb.Control(End).Markup("\n");
                }
                continue;
            }
            sb.Control(Start).Markup(m.Role + "\n"); // roles are validated: system, developer, user, assistant
            AppendContent(sb, m, imageTokens);
            for (var c = 0; c < m.ToolCalls.Count; c++)
            {
                if (c > 0 || m.Content.Length > 0)
                {
                    sb.Markup("\n");
                }
                AppendCall(sb, m.ToolCalls[c].Name, m.ToolCalls[c].Arguments);
            }
            sb.Control(End).Markup("\n");
        }
        sb.Control(Start).Markup("assistant\n");
        return sb.Finish(out missing);
    }

    /// <summary>The text with each image's block at its place.</summary>
    private static void AppendContent(PromptWriter sb, ChatMessage m, int imageTokens)
    {
        var at = 0;
        foreach (var image in m.Images)
        {
            sb.Text(m.Content, at, image.Offset - at).Control(VisionStart);
            for (var i = 0; i < imageTokens; i++)
            {
                sb.Control(ImagePad);
            }
            sb.Control(VisionEnd);
            at = image.Offset;
        }
        sb.Text(m.Content, at, m.Content.Length - at);
    }

    private static void AppendTools(PromptWriter sb, IReadOnlyList<JsonElement> tools)
    {
        sb.Markup("# Tools\n\nYou may call one or more of the functions below to help with the request. ")
            .Markup("Their signatures, one JSON object per line, are inside <tools></tools>:\n<tools>");
        foreach (var tool in tools)
        {
            sb.Markup("\n").Text(JsonSerializer.Serialize(tool));
        }
        sb.Markup("\n</tools>\n\nTo call a function, answer with its name and arguments as one JSON object inside <tool_call></tool_call>:\n")
            .Markup("<tool_call>\n{\"name\": <function-name>, \"arguments\": <arguments-as-a-json-object>}\n</tool_call>");
    }

    /// <summary>One call exactly as the worker generates it.</summary>
    private static void AppendCall(PromptWriter sb, string name, string arguments) =>
        sb.Markup("<tool_call>\n{\"name\": ").Text(JsonSerializer.Serialize(name)).Markup(", \"arguments\": ").Text(arguments).Markup("}\n</tool_call>");
}

/// <summary>
/// Builds a prompt's ids. <see cref="Text(string?)"/> is the client's: it never becomes a control token.
/// <see cref="Markup"/> is the template's own text: an added token in it (a real export's <c>&lt;tool_call&gt;</c>, say)
/// becomes that token, as Hugging Face's tokenizer would make it. Plain text accumulates and is encoded in one piece
/// when a control token or the end comes.
/// </summary>
internal sealed class PromptWriter(BpeTokenizer tokenizer)
{
    private readonly StringBuilder _text = new();
    private readonly List<int> _ids = [];
    private string? _missing;

    public PromptWriter Text(string? text)
    {
        _text.Append(text);
        return this;
    }

    public PromptWriter Text(string text, int start, int count)
    {
        _text.Append(text, start, count);
        return this;
    }

    public PromptWriter Markup(string markup)
    {
        var rest = markup.AsSpan();
        while (rest.Length > 0)
        {
            // The earliest added token in the rest (the longest at that place: AddedTokens is longest first).
            var at = -1;
            BpeTokenizer.AddedToken? found = null;
            foreach (var token in tokenizer.AddedTokens)
            {
                var i = rest.IndexOf(token.Content, StringComparison.Ordinal);
                if (i >= 0 && (at < 0 || i < at))
                {
                    (at, found) = (i, token);
                }
            }
            if (found is null)
            {
                _text.Append(rest);
                break;
            }
            _text.Append(rest[..at]);
            Flush();
            _ids.Add(found.Id);
            rest = rest[(at + found.Content.Length)..];
        }
        return this;
    }

    public PromptWriter Control(string marker)
    {
        Flush();
        if (tokenizer.TryGetTokenId(marker, out var id))
        {
            _ids.Add(id);
        }
        else
        {
            _missing ??= marker;
        }
        return this;
    }

    public int[]? Finish(out string? missing)
    {
        Flush();
        missing = _missing;
        return missing is null ? [.. _ids] : null;
    }

    private void Flush()
    {
        if (_text.Length > 0)
        {
            _ids.AddRange(tokenizer.EncodeOrdinary(_text.ToString()));
            _text.Clear();
        }
    }
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
