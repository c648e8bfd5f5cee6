using System.Text;

namespace Aurous.Api.Chat;

/// <summary>
/// Renders messages with the ChatML template the model's tokenizer_config.json declares
/// (<c>&lt;|im_start|&gt;role\ncontent&lt;|im_end|&gt;\n</c>, then the assistant's opening). A Jinja engine is not
/// available here; this renderer implements exactly that template, and the loader refuses any other.
/// </summary>
public static class ChatTemplate
{
    public const string Start = "<|im_start|>";
    public const string End = "<|im_end|>";

    public static bool IsChatMl(string? template) => template is not null && template.Contains(Start, StringComparison.Ordinal) && template.Contains(End, StringComparison.Ordinal);

    public static string Render(IReadOnlyList<ChatMessage> messages)
    {
        var sb = new StringBuilder();
        foreach (var m in messages)
        {
            sb.Append(Start).Append(m.Role).Append('\n').Append(m.Content).Append(End).Append('\n');
        }
        return sb.Append(Start).Append("assistant\n").ToString();
    }
}

public sealed record ChatMessage(string Role, string Content);
