using System.Buffers;
using System.Text;
using Aurous.Api.Metering;

namespace Aurous.Api.Chat;

/// <summary>
/// Writes a completion in OpenAI's shapes: the <c>chat.completion</c> object and the <c>chat.completion.chunk</c>s of
/// a stream. Both share one envelope (id, object, created, model, choices, usage); only the choice differs.
/// </summary>
public static class ChatCompletionRenderer
{
    public static byte[] Completion(ChatCompletion completion, UsageBlock? usage)
    {
        var buffer = new ArrayBufferWriter<byte>(512 + completion.Text.Length * 2);
        WriteEnvelope(buffer, completion, "chat.completion", usage, w => WriteMessageChoice(w, completion));
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>A chunk: a delta choice, or, with <paramref name="usage"/>, no choice and the usage.</summary>
    public static string Chunk(ChatCompletion completion, string? content, string? role, string? finishReason, UsageBlock? usage, ToolCallDelta? toolCall)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        WriteEnvelope(buffer, completion, "chat.completion.chunk", usage, w =>
        {
            if (usage is null)
            {
                WriteDeltaChoice(w, content, role, finishReason, toolCall);
            }
        });
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static void WriteEnvelope(IBufferWriter<byte> buffer, ChatCompletion completion, string objectType, UsageBlock? usage, Action<Utf8JsonWriter> writeChoices)
    {
        using var w = new Utf8JsonWriter(buffer);
        w.WriteStartObject();
        w.WriteString("id", completion.Id);
        w.WriteString("object", objectType);
        w.WriteNumber("created", completion.Created);
        w.WriteString("model", completion.Model);
        w.WriteStartArray("choices");
        writeChoices(w);
        w.WriteEndArray();
        if (usage is not null)
        {
            w.WritePropertyName("usage");
            JsonSerializer.Serialize(w, usage);
        }
        w.WriteEndObject();
    }

    private static void WriteMessageChoice(Utf8JsonWriter w, ChatCompletion completion)
    {
        w.WriteStartObject();
        w.WriteNumber("index", 0);
        w.WriteStartObject("message");
        w.WriteString("role", "assistant");
        if (completion.ToolCalls.Count > 0 && completion.Text.Length == 0)
        {
            w.WriteNull("content");
        }
        else
        {
            w.WriteString("content", completion.Text.ToString());
        }
        w.WriteNull("refusal");
        if (completion.ToolCalls.Count > 0)
        {
            w.WriteStartArray("tool_calls");
            foreach (var call in completion.ToolCalls)
            {
                w.WriteStartObject();
                w.WriteString("id", call.Id);
                w.WriteString("type", "function");
                w.WriteStartObject("function");
                w.WriteString("name", call.Name);
                w.WriteString("arguments", call.Arguments.ToString());
                w.WriteEndObject();
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        w.WriteEndObject();
        w.WriteNull("logprobs");
        w.WriteString("finish_reason", completion.FinishReason == "cancelled" ? "stop" : completion.FinishReason ?? "stop");
        w.WriteEndObject();
    }

    private static void WriteDeltaChoice(Utf8JsonWriter w, string? content, string? role, string? finishReason, ToolCallDelta? toolCall)
    {
        w.WriteStartObject();
        w.WriteNumber("index", 0);
        w.WriteStartObject("delta");
        if (role is not null)
        {
            w.WriteString("role", role);
        }
        if (content is not null)
        {
            w.WriteString("content", content);
        }
        if (toolCall is not null)
        {
            w.WriteStartArray("tool_calls");
            w.WriteStartObject();
            w.WriteNumber("index", toolCall.Index);
            if (toolCall.Id is not null)
            {
                w.WriteString("id", toolCall.Id);
                w.WriteString("type", "function");
            }
            w.WriteStartObject("function");
            if (toolCall.Name is not null)
            {
                w.WriteString("name", toolCall.Name);
            }
            w.WriteString("arguments", toolCall.Arguments);
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteEndArray();
        }
        w.WriteEndObject();
        w.WriteNull("logprobs");
        if (finishReason is null)
        {
            w.WriteNull("finish_reason");
        }
        else
        {
            w.WriteString("finish_reason", finishReason);
        }
        w.WriteEndObject();
    }
}
