using Aurous.Inference.Contracts;

namespace Aurous.Api.Chat;

/// <summary>The <c>response_format</c> field of a chat completion request.</summary>
public static class ResponseFormatField
{
    /// <summary>
    /// <c>response_format</c>: text (the default), <c>json_object</c>, or <c>json_schema</c> {name, schema, strict}. The
    /// worker enforces it by constrained decoding and refuses schema keywords outside the documented subset
    /// (400 <c>unsupported_schema</c>, see docs/chat.md).
    /// </summary>
    public static (InternalResponseFormat? Format, ApiError? Error) Parse(JsonElement body)
    {
        if (JsonFields.Optional(body, "response_format", "an object", out var rfValue, JsonValueKind.Object) is { } typeError)
        {
            return (null, typeError);
        }
        if (rfValue is not { } rf)
        {
            return (null, null);
        }
        if (!rf.TryGetProperty("type", out var typeElement) || typeElement.ValueKind != JsonValueKind.String)
        {
            return (null, ApiError.InvalidRequest("invalid_response_format", "'response_format' must be {\"type\": \"text\" | \"json_object\" | \"json_schema\"}."));
        }
        switch (typeElement.GetString())
        {
            case "text":
                return (null, null);
            case "json_object":
                return (new InternalResponseFormat { Type = "json_object" }, null);
            case "json_schema":
                if (!rf.TryGetProperty("json_schema", out var js) || js.ValueKind != JsonValueKind.Object)
                {
                    return (null, ApiError.InvalidRequest("invalid_response_format", "'response_format.json_schema' is required: {\"name\": \"...\", \"schema\": {...}}."));
                }
                if (!js.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String || !ToolsField.IsFunctionName(name.GetString()!))
                {
                    return (null, ApiError.InvalidRequest("invalid_response_format", "'response_format.json_schema.name' must be 1-64 characters of a-z, A-Z, 0-9, _ and -."));
                }
                if (!js.TryGetProperty("schema", out var schema) || schema.ValueKind != JsonValueKind.Object)
                {
                    return (null, ApiError.InvalidRequest("invalid_response_format", "'response_format.json_schema.schema' must be a JSON Schema object."));
                }
                return (new InternalResponseFormat { Type = "json_schema", Schema = schema.Clone() }, null);
            default:
                return (null, ApiError.InvalidRequest("invalid_response_format", $"'response_format.type' '{typeElement.GetString()}' is not one of text, json_object, json_schema."));
        }
    }
}
