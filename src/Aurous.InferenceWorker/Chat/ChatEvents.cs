namespace Aurous.InferenceWorker.Chat;

/// <summary>What the engine produces while generating; the endpoint writes each as one <see cref="Aurous.Inference.Contracts.InternalChatEvent"/> line.</summary>
public abstract record ChatEvent;

/// <summary><c>{"type":"delta","text":"...","completion_tokens":N}</c>: N counts every token sampled so far (reasoning
/// included), so a caller that stops reading knows exactly how many tokens were produced.</summary>
public sealed record ChatDelta(string Text, IReadOnlyList<int> TokenIds, int CompletionTokens) : ChatEvent;

/// <summary>
/// <c>{"type":"tool_call","index":0,"name":"get_weather","arguments":"","completion_tokens":N}</c> when a call's name is
/// complete, then <c>{"type":"tool_call","index":0,"arguments":"{\"city\": ","completion_tokens":N}</c> pieces of its
/// JSON arguments (concatenated: a document of the function's parameters schema).
/// </summary>
public sealed record ChatToolCallDelta(int Index, string? Name, string Arguments, int CompletionTokens) : ChatEvent;

/// <summary><c>{"type":"progress","completion_tokens":N}</c>: sent while hidden reasoning tokens are produced (no text).</summary>
public sealed record ChatProgress(int CompletionTokens) : ChatEvent;

/// <summary>
/// <c>{"type":"done","finish_reason":"stop"|"length"|"tool_calls","prompt_tokens":N,"completion_tokens":M,"reasoning_tokens":R,"time_to_first_token_ms":x}</c>:
/// <c>completion_tokens</c> includes the <c>reasoning_tokens</c> (as OpenAI's usage does).
/// </summary>
public sealed record ChatDone(string FinishReason, int PromptTokens, int CompletionTokens, double TimeToFirstTokenMs, int ReasoningTokens = 0) : ChatEvent;

/// <summary>A request refused before generation starts (4xx/503 JSON error body).</summary>
public sealed class ChatRequestException(int status, string code, string message) : Exception(message)
{
    public int Status { get; } = status;
    public string Code { get; } = code;
}
