namespace Aurous.Api.OpenApi;

/// <summary>
/// Every error code of the API with its HTTP status, and the sets of codes that whole groups of routes share (the
/// pipeline's, a JSON body's, a metered request's). Each operation's error responses are built from these.
/// </summary>
internal static class ErrorCatalog
{
    private static readonly Dictionary<string, int> Statuses = new(StringComparer.Ordinal)
    {
        // Any route: headers and the pipeline.
        ["invalid_api_version"] = 400, ["unsupported_api_version"] = 400, ["duplicate_header"] = 400,
        ["request_uri_too_long"] = 414, ["request_headers_too_large"] = 431, ["internal_error"] = 500, ["service_unavailable"] = 503,
        // Authenticated routes.
        ["invalid_api_key"] = 401, ["permission_denied"] = 403, ["rate_limit_exceeded"] = 429, ["too_many_failed_authentications"] = 429,
        // A JSON body.
        ["invalid_json"] = 400, ["invalid_request_body"] = 400, ["invalid_type"] = 400, ["unknown_parameter"] = 400,
        ["missing_required_parameter"] = 400, ["request_too_large"] = 413, ["unsupported_media_type"] = 415,
        // Metered requests: credits, idempotency, tokens per minute.
        ["invalid_idempotency_key"] = 400, ["insufficient_credits"] = 402, ["idempotency_key_in_use"] = 409,
        ["idempotency_request_in_progress"] = 409, ["token_rate_limit_exceeded"] = 429, ["request_exceeds_tpm_limit"] = 429,
        ["hold_lost"] = 503,
        // Models and inference.
        ["model_not_found"] = 404, ["model_not_supported"] = 400, ["model_unavailable"] = 503, ["inference_timeout"] = 504,
        ["context_length_exceeded"] = 400,
        // Chat.
        ["invalid_message"] = 400, ["invalid_role"] = 400, ["invalid_content_part"] = 400, ["invalid_tool_message"] = 400,
        ["invalid_tools"] = 400, ["invalid_tool_choice"] = 400, ["invalid_function_name"] = 400, ["duplicate_function_name"] = 400,
        ["invalid_response_format"] = 400, ["invalid_reasoning_effort"] = 400, ["invalid_max_tokens"] = 400,
        ["invalid_temperature"] = 400, ["invalid_top_p"] = 400, ["invalid_seed"] = 400, ["invalid_stop"] = 400, ["invalid_n"] = 400,
        ["n_not_supported"] = 400, ["invalid_user"] = 400, ["unsupported_parameter"] = 400, ["unsupported_content_type"] = 400,
        ["too_many_images"] = 400, ["invalid_media_url"] = 400, ["completion_not_found"] = 404,
        // Embeddings.
        ["embeddings_batch_not_supported"] = 400, ["embeddings_unsupported_dimensions"] = 400, ["embeddings_empty_input"] = 400,
        ["embeddings_invalid_part"] = 400, ["embeddings_unknown_part_type"] = 400, ["embeddings_too_many_items"] = 400,
        ["embeddings_token_input_not_supported"] = 400, ["embeddings_context_length_exceeded"] = 400, ["invalid_input"] = 400,
        ["invalid_encoding_format"] = 400,
        // Images and videos.
        ["empty_prompt"] = 400, ["prompt_too_long"] = 400, ["invalid_size"] = 400, ["invalid_duration"] = 400,
        ["lora_model_mismatch"] = 400, ["lora_not_found"] = 404, ["image_not_found"] = 404, ["video_not_found"] = 404,
        ["job_not_cancellable"] = 409, ["queue_unavailable"] = 503, ["invalid_limit"] = 400, ["invalid_cursor"] = 400,
        ["output_not_found"] = 404, ["output_expired"] = 410, ["range_not_satisfiable"] = 416,
        // Keys, team and webhooks.
        ["invalid_scope"] = 400, ["name_too_long"] = 400, ["api_key_not_found"] = 404, ["api_key_not_active"] = 409,
        ["webhook_endpoint_not_found"] = 404, ["invalid_webhook_url"] = 400, ["invalid_webhook_event"] = 400, ["description_too_long"] = 400, ["webhook_endpoint_disabled"] = 409, ["too_many_webhook_endpoints"] = 400,
    };

    /// <summary>Every route: a malformed request line or header, an unexpected failure, a store that is down.</summary>
    public static readonly string[] AnyRoute =
        ["invalid_api_version", "unsupported_api_version", "duplicate_header", "request_uri_too_long", "request_headers_too_large", "internal_error", "service_unavailable"];

    /// <summary>Routes under the API key: <see cref="AnyRoute"/>, the key, its scopes and the team's request rate.</summary>
    public static readonly string[] Authenticated =
        [.. AnyRoute, "invalid_api_key", "permission_denied", "rate_limit_exceeded", "too_many_failed_authentications"];

    /// <summary>Authenticated routes that read a JSON body.</summary>
    public static readonly string[] JsonBody =
        [.. Authenticated, "invalid_json", "invalid_request_body", "invalid_type", "unknown_parameter", "missing_required_parameter", "request_too_large", "unsupported_media_type"];

    /// <summary>Metered requests: a JSON body, a credit hold, an Idempotency-Key.</summary>
    public static readonly string[] Metered =
        [.. JsonBody, "invalid_idempotency_key", "insufficient_credits", "idempotency_key_in_use", "idempotency_request_in_progress", "hold_lost"];

    /// <summary>Metered requests on the tokens-per-minute bucket too (chat and embeddings).</summary>
    public static readonly string[] TokenMetered = [.. Metered, "token_rate_limit_exceeded", "request_exceeds_tpm_limit"];

    public static int StatusOf(string code) =>
        Statuses.TryGetValue(code, out var status) ? status : throw new ArgumentException($"Unknown error code '{code}'.", nameof(code));

    /// <summary>The codes grouped by status, in status order.</summary>
    public static IEnumerable<IGrouping<int, string>> ByStatus(IEnumerable<string> codes) =>
        codes.Distinct(StringComparer.Ordinal).GroupBy(StatusOf).OrderBy(g => g.Key);
}
