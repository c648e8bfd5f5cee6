using System.Text.Json.Serialization;

namespace Aurous.InferenceWorker.Chat;

/// <summary>
/// Body of <c>POST /internal/chat/completions</c> (snake_case JSON), sent by the API after it has rendered the chat
/// template and tokenised it with the model's tokenizer (the worker does neither):
/// <code>
/// {"model":"aurous-grow-2.0-pro","prompt_token_ids":[50257,...],"max_tokens":64,"temperature":1.0,"top_p":1.0,
///  "seed":null,"stop":["..."],"ignore_eos":false,"reasoning_budget":0,
///  "response_format":{"type":"json_schema","schema":{"type":"object",...}}}
/// </code>
/// Unknown members are refused (400), so contract drift shows at once.
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
    /// <summary>Up to 16 non-empty strings; the text ends before the first occurrence of any (finish_reason stop).</summary>
    public IReadOnlyList<string>? Stop { get; init; }
    /// <summary>Extension (as vLLM's): keep generating past end-of-sequence tokens until max_tokens (benchmarks, tests).</summary>
    public bool IgnoreEos { get; init; }
    /// <summary>
    /// Thinking-token budget (0 or null: no reasoning). When &gt; 0 the worker prefills <c>&lt;think&gt;\n</c> after the
    /// prompt, samples up to this many reasoning tokens (never streamed as deltas; ends early at <c>&lt;/think&gt;</c>),
    /// closes the block with <c>\n&lt;/think&gt;\n\n</c> and then generates the visible answer. <c>max_tokens</c> bounds
    /// reasoning + answer together.
    /// </summary>
    public int? ReasoningBudget { get; init; }
    /// <summary>
    /// Structured output by constrained decoding: <c>{"type":"json_object"}</c> (any JSON object) or
    /// <c>{"type":"json_schema","schema":{...}}</c> (the JSON Schema itself, see <see cref="JsonSchemaCompiler"/> for
    /// the subset); null or <c>{"type":"text"}</c>: free text.
    /// </summary>
    public InternalResponseFormat? ResponseFormat { get; init; }
    /// <summary>
    /// Functions the model may call (at most 128): <c>[{"name":"get_weather","parameters":{JSON Schema, root an
    /// object}}]</c>. The API renders their definitions into the prompt; the worker constrains the calls (see
    /// <see cref="ToolCallConstraint"/>). Null or empty: no tool calls.
    /// </summary>
    public IReadOnlyList<InternalTool>? Tools { get; init; }
    /// <summary><c>auto</c> (default: text or calls, the model decides) or <c>required</c> (only calls).</summary>
    public string? ToolChoice { get; init; }
    /// <summary>Whether one answer may hold several calls (default true).</summary>
    public bool? ParallelToolCalls { get; init; }
    /// <summary>
    /// Image URLs (http(s) or data:), one per image block in the prompt, in order. Each block is
    /// <c>&lt;|vision_start|&gt;</c>, the model's tokens-per-image <c>&lt;|image_pad|&gt;</c> tokens, <c>&lt;|vision_end|&gt;</c>;
    /// the worker fetches (SSRF rules), decodes and encodes each image and puts its features at the pad positions.
    /// </summary>
    public IReadOnlyList<string>? Images { get; init; }
}

/// <summary>One entry of <see cref="InternalChatRequest.Tools"/>.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record InternalTool
{
    public string? Name { get; init; }
    /// <summary>The JSON Schema of the arguments; null: no arguments (<c>{}</c>).</summary>
    public System.Text.Json.JsonElement? Parameters { get; init; }
}

/// <summary><c>response_format</c> of <see cref="InternalChatRequest"/>.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record InternalResponseFormat
{
    /// <summary><c>text</c>, <c>json_object</c> or <c>json_schema</c>.</summary>
    public string? Type { get; init; }
    /// <summary>json_schema only: the JSON Schema object.</summary>
    public System.Text.Json.JsonElement? Schema { get; init; }
}

/// <summary>One NDJSON line of the streamed response.</summary>
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
