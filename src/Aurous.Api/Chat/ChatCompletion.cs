using System.Text;
using Aurous.Api.Inference;
using Aurous.Api.Metering;
using Aurous.Inference.Contracts;

namespace Aurous.Api.Chat;

/// <summary>One completion as it is generated: text so far, counts, and its OpenAI-shaped renderings.</summary>
public sealed class ChatCompletion(string id, long created, string model, int promptTokens, int visualTokens = 0)
{
    public string Id { get; } = id;
    public long Created { get; } = created;
    public string Model { get; } = model;
    public StringBuilder Text { get; } = new();
    public string? FinishReason { get; set; }
    public int? CompletionTokens { get; private set; }
    /// <summary>Hidden reasoning tokens, included in <see cref="CompletionTokens"/> (0 until the worker's done event).</summary>
    public int ReasoningTokens { get; private set; }
    public string? StoredJson { get; private set; }
    /// <summary>The calls generated so far, by index.</summary>
    public List<GeneratedToolCall> ToolCalls { get; } = [];

    /// <summary>Prompt tokens split into text and the images' visual tokens (priced at the visual rate).</summary>
    public TokenUsage Usage => new(promptTokens - visualTokens, visualTokens, TextOutput: CompletionTokens ?? 0);

    /// <summary>Folds a worker event in; false when it is an error.</summary>
    public bool Apply(InternalChatEvent e)
    {
        switch (e.Type)
        {
            case InternalChatEvent.DeltaType:
                Text.Append(e.Text);
                if (e.CompletionTokens is { } n)
                {
                    CompletionTokens = n;
                }
                return true;
            case InternalChatEvent.ToolCallType when e.Index is { } index && (e.Name is not null ? index == ToolCalls.Count : index < ToolCalls.Count):
                if (e.Name is not null)
                {
                    ToolCalls.Add(new GeneratedToolCall(ToolCallIds.New(), e.Name));
                }
                ToolCalls[index].Arguments.Append(e.Arguments);
                CompletionTokens = e.CompletionTokens ?? CompletionTokens;
                return true;
            case InternalChatEvent.ProgressType:
                CompletionTokens = e.CompletionTokens ?? CompletionTokens;
                return true;
            case InternalChatEvent.DoneType:
                FinishReason = e.FinishReason ?? "stop";
                CompletionTokens = e.CompletionTokens ?? CompletionTokens ?? 0;
                ReasoningTokens = e.ReasoningTokens ?? 0;
                return true;
            default:
                return false;
        }
    }

    /// <summary>The <c>chat.completion</c> object; the last one rendered is what is stored for GET /v1/chat/completions/{id}.</summary>
    public byte[] RenderJson(UsageBlock? usage)
    {
        var bytes = ChatCompletionRenderer.Completion(this, usage);
        StoredJson = Encoding.UTF8.GetString(bytes);
        return bytes;
    }

    /// <summary>One <c>chat.completion.chunk</c> of the stream: a delta, the finish reason, or (with <paramref name="usage"/>) the usage.</summary>
    public string RenderChunk(string? content, string? role, string? finishReason, UsageBlock? usage, ToolCallDelta? toolCall = null) =>
        ChatCompletionRenderer.Chunk(this, content, role, finishReason, usage, toolCall);
}
