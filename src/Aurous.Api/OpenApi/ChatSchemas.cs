using static Aurous.Api.OpenApi.SchemaSet;

namespace Aurous.Api.OpenApi;

/// <summary>POST /v1/chat/completions (JSON or server-sent events) and GET /v1/chat/completions/{id}.</summary>
internal static class ChatSchemas
{
    public static void AddTo(SchemaSet set)
    {
        var function = Object(null, Required("name", String()), Required("arguments", String("The arguments, as a JSON text.")));
        set.Add("ChatToolCall", Object("A function call the model made.",
            Required("id", String()), Required("type", Const("function")), Required("function", function)));

        var textPart = Object(null, Required("type", Const("text")), Required("text", String()));
        var imagePart = Object(null, Required("type", Const("image_url")), Required("image_url", Object(null,
            Required("url", String("An https URL or a data: URL.")), Optional("detail", Enum(null, "auto", "low", "high")))));
        set.Add("ChatMessage", Object("One message of the conversation.",
            Required("role", Enum(null, "system", "developer", "user", "assistant", "tool")),
            Optional("content", OneOf("Text, or text and image parts (user messages); null for an assistant message with tool calls.",
                OrNull(String()), Array(OneOf(null, textPart, imagePart)))),
            Optional("name", String()),
            Optional("tool_calls", Array(set.Ref("ChatToolCall"), "Assistant messages: the calls the model made.")),
            Optional("tool_call_id", String("Tool messages: the call this answers."))));

        set.Add("ChatCompletionRequest", Object(null,
            Required("model", String("The chat model, as listed by GET /v1/models (e.g. aurous-grow-2.0-pro).")),
            Required("messages", Array(set.Ref("ChatMessage"))),
            Optional("max_tokens", Integer("Most tokens to generate.")),
            Optional("max_completion_tokens", Integer("Same as max_tokens, under OpenAI's newer name.")),
            Optional("temperature", Number()),
            Optional("top_p", Number()),
            Optional("seed", Integer()),
            Optional("stop", OneOf("Up to 4 sequences that end the generation.", String(), Array(String()))),
            Optional("n", Integer("Only 1 is served.")),
            Optional("user", String("End-user identifier for your records.")),
            Optional("stream", Boolean("true: the answer comes as server-sent events, ended by data: [DONE].")),
            Optional("stream_options", Object(null, Optional("include_usage", Boolean()))),
            Optional("response_format", OneOf("Structured output.",
                Object(null, Required("type", Const("text"))),
                Object(null, Required("type", Const("json_object"))),
                Object(null, Required("type", Const("json_schema")), Required("json_schema", Object(null,
                    Required("name", String()), Optional("description", String()), Optional("schema", Any("A JSON Schema.")), Optional("strict", Boolean())))))),
            Optional("reasoning_effort", Enum(null, "none", "minimal", "low", "medium", "high")),
            Optional("tools", Array(Object(null, Required("type", Const("function")), Required("function", Object(null,
                Required("name", String()), Optional("description", String()), Optional("parameters", Any("A JSON Schema.")), Optional("strict", Boolean())))))),
            Optional("tool_choice", OneOf(null, Enum(null, "none", "auto", "required"),
                Object(null, Required("type", Const("function")), Required("function", Object(null, Required("name", String())))))),
            Optional("parallel_tool_calls", Boolean())));

        var finishReason = Enum(null, "stop", "length", "tool_calls");
        set.Add("ChatCompletion", Object("A chat completion (id cmp_<ULID>).",
            Required("id", String()), Required("object", Const("chat.completion")), Required("created", Timestamp()), Required("model", String()),
            Required("choices", Array(Object(null,
                Required("index", Integer()),
                Required("message", Object(null,
                    Required("role", Const("assistant")), Required("content", OrNull(String())), Required("refusal", OrNull(String())),
                    Optional("tool_calls", Array(set.Ref("ChatToolCall"))))),
                Required("logprobs", OrNull(Object(null))),
                Required("finish_reason", finishReason)))),
            Optional("usage", set.Ref(CommonSchemas.Usage))));

        set.Add("ChatCompletionChunk", Object("One server-sent event (data: <chunk>); the last one before data: [DONE] carries usage.",
            Required("id", String()), Required("object", Const("chat.completion.chunk")), Required("created", Timestamp()), Required("model", String()),
            Required("choices", Array(Object(null,
                Required("index", Integer()),
                Required("delta", Object(null, Optional("role", Const("assistant")), Optional("content", String()),
                    Optional("tool_calls", Array(Object(null, Required("index", Integer()), Optional("id", String()), Optional("type", Const("function")),
                        Required("function", Object(null, Optional("name", String()), Required("arguments", String())))))))),
                Required("logprobs", OrNull(Object(null))),
                Required("finish_reason", OrNull(Enum(null, "stop", "length", "tool_calls")))))),
            Optional("usage", set.Ref(CommonSchemas.Usage))));
    }

    public static IEnumerable<OperationDoc> Operations() =>
    [
        new("CreateChatCompletion", "ChatCompletionRequest",
            [new(200, "The completion; with stream: true, server-sent events of chunks ended by data: [DONE].",
                new Dictionary<string, string?> { ["application/json"] = "ChatCompletion", ["text/event-stream"] = "ChatCompletionChunk" })],
            [.. ErrorCatalog.TokenMetered, "model_not_found", "model_not_supported", "model_unavailable", "inference_timeout", "context_length_exceeded",
                "invalid_message", "invalid_role", "invalid_content_part", "invalid_tool_message", "invalid_tools", "invalid_tool_choice",
                "invalid_function_name", "duplicate_function_name", "invalid_response_format", "invalid_reasoning_effort", "invalid_max_tokens",
                "invalid_temperature", "invalid_top_p", "invalid_seed", "invalid_stop", "invalid_n", "n_not_supported", "invalid_user",
                "unsupported_parameter", "unsupported_content_type", "too_many_images", "invalid_media_url"]),
        new("GetChatCompletion", null, [SuccessDoc.Json(200, "The stored completion.", "ChatCompletion")],
            [.. ErrorCatalog.Authenticated, "completion_not_found"]),
    ];
}
