using System.Text.Json;
using System.Text.Json.Serialization;

namespace Aurous.Inference.Contracts;

/// <summary>
/// Body of <c>POST /internal/chat/completions</c> (snake_case JSON), sent by the API after it has rendered the chat
/// template and tokenised it with the model's tokenizer (the worker does neither):
/// <code>
/// {"model":"aurous-grow-2.0-pro","prompt_token_ids":[50257,...],"max_tokens":64,"temperature":1.0,"top_p":1.0,
///  "seed":null,"stop":["..."],"response_format":{"type":"json_schema","schema":{"type":"object",...}},
///  "reasoning_budget":0}
/// </code>
/// Members are nullable because the worker validates what arrives; unknown members are refused (400), so contract
/// drift shows at once.
/// </summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record InternalChatRequest
{
    public string? Model { get; init; }
    public int[]? PromptTokenIds { get; init; }
    /// <summary>Most tokens to generate (≥ 1); null: whatever the context window leaves.</summary>
    public int? MaxTokens { get; init; }
    /// <summary>0 (greedy) to 2; null: generation_config's default.</summary>
    public double? Temperature { get; init; }
    /// <summary>(0, 1]; null: generation_config's default.</summary>
    public double? TopP { get; init; }
    /// <summary>Same seed + same prompt + same parameters = same tokens; null: a random seed.</summary>
    public long? Seed { get; init; }
    /// <summary>Up to <see cref="ChatLimits.MaxStopStrings"/> non-empty strings; the text ends before the first occurrence of any (finish_reason stop).</summary>
    public IReadOnlyList<string>? Stop { get; init; }
    /// <summary>
    /// Structured output by constrained decoding: <c>{"type":"json_object"}</c> (any JSON object) or
    /// <c>{"type":"json_schema","schema":{...}}</c> (the JSON Schema itself; the worker documents the subset it
    /// enforces); null or <c>{"type":"text"}</c>: free text.
    /// </summary>
    public InternalResponseFormat? ResponseFormat { get; init; }
    /// <summary>
    /// Thinking-token budget (0 or null: no reasoning, at most <see cref="ChatLimits.MaxReasoningBudget"/>). When &gt; 0
    /// the worker prefills <see cref="ReasoningBlock.Open"/> after the prompt, samples up to this many reasoning tokens
    /// (never streamed as deltas; ends early at <see cref="ReasoningBlock.End"/>), closes the block with
    /// <see cref="ReasoningBlock.Close"/> and then generates the visible answer. <c>max_tokens</c> bounds reasoning +
    /// answer together.
    /// </summary>
    public int? ReasoningBudget { get; init; }
    /// <summary>
    /// Functions the model may call (at most <see cref="ChatLimits.MaxTools"/>): <c>[{"name":"get_weather","parameters":{JSON Schema, root an
    /// object}}]</c>. The API renders their definitions into the prompt; the worker constrains the calls. Null or
    /// empty: no tool calls.
    /// </summary>
    public IReadOnlyList<InternalTool>? Tools { get; init; }
    /// <summary><c>auto</c> (default: text or calls, the model decides) or <c>required</c> (only calls).</summary>
    public string? ToolChoice { get; init; }
    /// <summary>Whether one answer may hold several calls (default true).</summary>
    public bool? ParallelToolCalls { get; init; }
    /// <summary>
    /// Image URLs (http(s) or data:), one per image block in the prompt, in order (at most <see cref="ChatLimits.MaxImages"/>).
    /// Each block is <c>&lt;|vision_start|&gt;</c>, the model's tokens-per-image <c>&lt;|image_pad|&gt;</c> tokens,
    /// <c>&lt;|vision_end|&gt;</c>; the worker fetches (SSRF rules), decodes and encodes each image and puts its
    /// features at the pad positions.
    /// </summary>
    public IReadOnlyList<string>? Images { get; init; }
    /// <summary>Extension (as vLLM's): keep generating past end-of-sequence tokens until max_tokens (benchmarks, tests).
    /// Written only when set, so the API's requests never carry it.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool IgnoreEos { get; init; }
}

/// <summary>One entry of <see cref="InternalChatRequest.Tools"/>.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record InternalTool
{
    public string? Name { get; init; }
    /// <summary>The JSON Schema of the arguments; null: no arguments (<c>{}</c>).</summary>
    public JsonElement? Parameters { get; init; }
}

/// <summary><c>response_format</c> of <see cref="InternalChatRequest"/>.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record InternalResponseFormat
{
    /// <summary><c>text</c>, <c>json_object</c> or <c>json_schema</c>.</summary>
    public string? Type { get; init; }
    /// <summary>json_schema only: the JSON Schema object.</summary>
    public JsonElement? Schema { get; init; }
}

/// <summary>
/// One line of the generation stream. Members that do not apply to the <see cref="Type"/> are left out:
/// <list type="bullet">
/// <item><c>{"type":"delta","text":"...","completion_tokens":N}</c>: N counts every token sampled so far (reasoning
/// included), so a caller that stops reading knows exactly how many tokens were produced; text is never empty.</item>
/// <item><c>{"type":"tool_call","index":0,"name":"get_weather","arguments":"","completion_tokens":N}</c> when a call's
/// name is complete, then <c>{"type":"tool_call","index":0,"arguments":"{\"city\": ","completion_tokens":N}</c> pieces
/// of its JSON arguments.</item>
/// <item><c>{"type":"progress","completion_tokens":N}</c> while hidden reasoning tokens are produced.</item>
/// <item>Last, either <c>{"type":"done","finish_reason":"stop"|"length"|"tool_calls","prompt_tokens":N,"completion_tokens":M,"reasoning_tokens":R,"time_to_first_token_ms":x}</c>
/// (<c>completion_tokens</c> includes the reasoning tokens, as OpenAI's usage does) or
/// <c>{"type":"error","code":"generation_failed","message":"..."}</c>.</item>
/// </list>
/// </summary>
public sealed record InternalChatEvent(
    string Type,
    string? Text = null,
    int? Index = null,
    string? Name = null,
    string? Arguments = null,
    string? FinishReason = null,
    int? PromptTokens = null,
    int? CompletionTokens = null,
    int? ReasoningTokens = null,
    double? TimeToFirstTokenMs = null,
    string? Code = null,
    string? Message = null)
{
    public const string DeltaType = "delta";
    public const string ToolCallType = "tool_call";
    public const string ProgressType = "progress";
    public const string DoneType = "done";
    public const string ErrorType = "error";

    /// <summary>Whether this is the stream's last event.</summary>
    [JsonIgnore]
    public bool IsFinal => Type is DoneType or ErrorType;

    public static InternalChatEvent Delta(string text, int completionTokens) =>
        new(DeltaType, Text: text, CompletionTokens: completionTokens);

    public static InternalChatEvent ToolCall(int index, string? name, string arguments, int completionTokens) =>
        new(ToolCallType, Index: index, Name: name, Arguments: arguments, CompletionTokens: completionTokens);

    public static InternalChatEvent Progress(int completionTokens) =>
        new(ProgressType, CompletionTokens: completionTokens);

    public static InternalChatEvent Done(string finishReason, int promptTokens, int completionTokens, int reasoningTokens, double timeToFirstTokenMs) =>
        new(DoneType, FinishReason: finishReason, PromptTokens: promptTokens, CompletionTokens: completionTokens,
            ReasoningTokens: reasoningTokens, TimeToFirstTokenMs: timeToFirstTokenMs);

    public static InternalChatEvent Error(string code, string message) =>
        new(ErrorType, Code: code, Message: message);
}

/// <summary>Limits of one chat request that the API checks (to answer in the public API's words) and the worker enforces.</summary>
public static class ChatLimits
{
    /// <summary>Most images in one request.</summary>
    public const int MaxImages = 16;
    /// <summary>Most functions a request may declare.</summary>
    public const int MaxTools = 128;
    /// <summary>Most stop strings.</summary>
    public const int MaxStopStrings = 16;
    /// <summary>Largest thinking-token budget.</summary>
    public const int MaxReasoningBudget = 32_768;

    /// <summary>The error code (400) of a request longer than the context window the worker serves.</summary>
    public const string ContextLengthExceeded = "context_length_exceeded";

    /// <summary>
    /// OpenAI's wording for a request that does not fit <paramref name="window"/> tokens: <paramref name="prompt"/> tokens
    /// in the messages (reasoning markers included) and <paramref name="completion"/> asked for (null: the prompt alone
    /// leaves no room).
    /// </summary>
    public static string ContextLengthMessage(int window, long prompt, long? completion) => completion is { } c
        ? $"This model's maximum context length is {window} tokens. However, you requested {prompt + c} tokens ({prompt} in the messages, {c} in the completion). Please reduce the length of the messages or completion."
        : $"This model's maximum context length is {window} tokens. However, your messages resulted in {prompt} tokens. Please reduce the length of the messages.";
}

/// <summary>The text the worker forces around hidden reasoning; it takes room in the context (not billed), so the API counts it too.</summary>
public static class ReasoningBlock
{
    /// <summary>Prefilled after the prompt when reasoning is on.</summary>
    public const string Open = "<think>\n";
    /// <summary>The model ending its reasoning by itself.</summary>
    public const string End = "</think>";
    /// <summary>Fed after the reasoning (ended by the model or by the budget), before the visible answer.</summary>
    public const string Close = "\n</think>\n\n";
}
