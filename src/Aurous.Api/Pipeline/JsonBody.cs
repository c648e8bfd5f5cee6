namespace Aurous.Api.Pipeline;

/// <summary>
/// Reads a JSON request body into a document, answering 415/400 in the envelope when it is not one. Beyond what the
/// parser checks, a body is refused when an object repeats a key (at any depth: which copy wins differs between
/// parsers, so a proxy and this API could read different requests) and when a string is not text (invalid UTF-8 bytes or
/// a lone surrogate escape such as <c>"\ud800"</c>), so every string the endpoints read later converts safely.
/// </summary>
public static class JsonBody
{
    private static readonly JsonDocumentOptions Options = new() { AllowDuplicateProperties = false };

    public static async Task<(JsonElement Body, ApiError? Error)> ReadAsync(HttpContext context)
    {
        if (context.Request.ContentType is { } type && !type.Contains("json", StringComparison.OrdinalIgnoreCase))
        {
            return (default, ApiError.UnsupportedMediaType());
        }
        JsonElement body;
        try
        {
            using var doc = await JsonDocument.ParseAsync(context.Request.Body, Options, context.RequestAborted);
            body = doc.RootElement.Clone();
        }
        catch (JsonException ex)
        {
            return (default, ApiError.InvalidRequest("invalid_json", $"The request body is not valid JSON: {ex.Message}"));
        }
        catch (InvalidOperationException)
        {
            // The duplicate-key check reads every key, and throws this (not a JsonException) for a key that is not text.
            return (default, NotText("a key"));
        }
        return FirstInvalidText(body) is { } path ? (default, NotText($"the string at {path}")) : (body, null);
    }

    private static ApiError NotText(string where) => ApiError.InvalidRequest("invalid_json",
        $"The request body is not valid JSON: {where} is not valid UTF-8 text (invalid bytes or an unpaired surrogate escape).");

    /// <summary>Where the first string (key or value) that cannot be read as text is, as a JSON path; null when all can.</summary>
    public static string? FirstInvalidText(JsonElement element)
    {
        var where = new Stack<string>();
        return AllText(element, where) ? null : "$" + string.Concat(where);
    }

    /// <summary>Depth-first; on failure <paramref name="where"/> holds the path to the bad string, outermost segment on top.</summary>
    private static bool AllText(JsonElement element, Stack<string> where)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.String:
                return IsText(element, null);
            case JsonValueKind.Array:
                var i = 0;
                foreach (var item in element.EnumerateArray())
                {
                    if (!AllText(item, where))
                    {
                        where.Push($"[{i}]");
                        return false;
                    }
                    i++;
                }
                return true;
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    if (!IsText(default, property))
                    {
                        where.Push(" (a key)");
                        return false;
                    }
                    if (!AllText(property.Value, where))
                    {
                        where.Push("." + property.Name);
                        return false;
                    }
                }
                return true;
            default:
                return true;
        }
    }

    private static bool IsText(JsonElement value, JsonProperty? key)
    {
        try
        {
            _ = key is { } k ? k.Name : value.GetString();
            return true;
        }
        catch (InvalidOperationException)
        {
            // System.Text.Json's "Cannot transcode invalid UTF-8" / "invalid UTF-16 (surrogate)" on reading the string.
            return false;
        }
    }
}
