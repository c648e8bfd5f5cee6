namespace Aurous.Api.Pipeline;

/// <summary>
/// Reads the fields of a JSON request body and reports mistakes as OpenAI does: an unknown field is
/// <c>unknown_parameter</c>, an absent required one <c>missing_required_parameter</c>, and a field of the wrong JSON
/// type <c>invalid_type</c> ("Invalid type for 'model': expected a string, but got an integer instead."). A field set to
/// <c>null</c> counts as absent. Range and value rules stay with each endpoint, under its own codes.
/// </summary>
public static class JsonFields
{
    /// <summary>The first field of <paramref name="body"/> that is not known (or known but not served), as an error.</summary>
    public static ApiError? UnknownField(JsonElement body, IReadOnlySet<string> known, IReadOnlySet<string>? notYetSupported = null)
    {
        foreach (var property in body.EnumerateObject())
        {
            if (notYetSupported?.Contains(property.Name) == true)
            {
                return ApiError.InvalidRequest("unsupported_parameter", $"'{property.Name}' is not supported by this deployment yet.");
            }
            if (!known.Contains(property.Name))
            {
                return ApiError.InvalidRequest("unknown_parameter", $"Unrecognized request argument supplied: {property.Name}.");
            }
        }
        return null;
    }

    /// <summary>
    /// A management body (keys, webhooks, team): a JSON object, else <c>invalid_type</c> naming what came instead, whose
    /// every field is known. The inference endpoints answer a non-object with their own code (<c>invalid_request_body</c>).
    /// </summary>
    public static ApiError? KnownObject(JsonElement body, IReadOnlySet<string> known) =>
        body.ValueKind != JsonValueKind.Object
            ? ApiError.InvalidRequest("invalid_type", $"The request body must be a JSON object, not {Describe(body)}.")
            : UnknownField(body, known);

    public static ApiError InvalidType(string field, string expected, JsonElement got) =>
        ApiError.InvalidRequest("invalid_type", $"Invalid type for '{field}': expected {expected}, but got {Describe(got)} instead.");

    public static ApiError Missing(string field, string hint) =>
        ApiError.InvalidRequest("missing_required_parameter", $"Missing required parameter: '{field}'. {hint}");

    /// <summary>A JSON value's type in OpenAI's words: "a string", "an integer", "a decimal number", "an object"...</summary>
    public static string Describe(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => "a string",
        JsonValueKind.Number => IsIntegral(value) ? "an integer" : "a decimal number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        _ => "null",
    };

    /// <summary>The field's value when it is present and not null.</summary>
    public static bool TryGet(JsonElement body, string name, out JsonElement value) =>
        body.TryGetProperty(name, out value) && value.ValueKind != JsonValueKind.Null;

    /// <summary>A required non-empty string.</summary>
    public static ApiError? RequiredString(JsonElement body, string name, string hint, out string value)
    {
        value = "";
        if (!TryGet(body, name, out var e))
        {
            return Missing(name, hint);
        }
        if (e.ValueKind != JsonValueKind.String)
        {
            return InvalidType(name, "a string", e);
        }
        value = e.GetString()!;
        return value.Length == 0 ? Missing(name, hint) : null;
    }

    public static ApiError? OptionalString(JsonElement body, string name, out string? value)
    {
        value = null;
        if (!TryGet(body, name, out var e))
        {
            return null;
        }
        if (e.ValueKind != JsonValueKind.String)
        {
            return InvalidType(name, "a string", e);
        }
        value = e.GetString();
        return null;
    }

    public static ApiError? OptionalBoolean(JsonElement body, string name, out bool? value)
    {
        value = null;
        if (!TryGet(body, name, out var e))
        {
            return null;
        }
        if (e.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
        {
            return InvalidType(name, "a boolean", e);
        }
        value = e.GetBoolean();
        return null;
    }

    /// <summary>An optional integer from <paramref name="min"/> to <paramref name="max"/>; outside it, <paramref name="rangeCode"/>.</summary>
    public static ApiError? OptionalInteger(JsonElement body, string name, long min, long max, string rangeCode, out long? value, string? rangeMessage = null)
    {
        value = null;
        if (!TryGet(body, name, out var e))
        {
            return null;
        }
        if (e.ValueKind != JsonValueKind.Number || !IsIntegral(e))
        {
            return InvalidType(name, "an integer", e);
        }
        if (!TryGetWhole(e, out var n) || n < min || n > max)
        {
            return ApiError.InvalidRequest(rangeCode, rangeMessage ?? $"'{name}' must be an integer from {min} to {max}.");
        }
        value = n;
        return null;
    }

    /// <summary>An optional number from <paramref name="min"/> to <paramref name="max"/>; outside it, <paramref name="rangeCode"/>.</summary>
    public static ApiError? OptionalNumber(JsonElement body, string name, double min, double max, string rangeCode, string rangeMessage, out double? value)
    {
        value = null;
        if (!TryGet(body, name, out var e))
        {
            return null;
        }
        if (e.ValueKind != JsonValueKind.Number)
        {
            return InvalidType(name, "a number", e);
        }
        if (!e.TryGetDouble(out var d) || !double.IsFinite(d) || d < min || d > max)
        {
            return ApiError.InvalidRequest(rangeCode, rangeMessage);
        }
        value = d;
        return null;
    }

    /// <summary>An optional value of one of the JSON <paramref name="kinds"/> (e.g. an object, or a string or an array).</summary>
    public static ApiError? Optional(JsonElement body, string name, string expected, out JsonElement? value, params JsonValueKind[] kinds)
    {
        value = null;
        if (!TryGet(body, name, out var e))
        {
            return null;
        }
        if (Array.IndexOf(kinds, e.ValueKind) < 0)
        {
            return InvalidType(name, expected, e);
        }
        value = e;
        return null;
    }

    /// <summary>A JSON number with no fraction: <c>10</c>, <c>1e3</c> and <c>10.0</c> are; <c>1.5</c> is not.</summary>
    /// <remarks>A number too large for a double counts as integral (and then fails the caller's range check).</remarks>
    private static bool IsIntegral(JsonElement number) =>
        number.TryGetInt64(out _) || !number.TryGetDouble(out var d) || !double.IsFinite(d) || Math.Floor(d) == d;

    /// <summary>An integral number that fits in a long, whether written 10, 1e1 or 10.0.</summary>
    private static bool TryGetWhole(JsonElement number, out long value)
    {
        if (number.TryGetInt64(out value))
        {
            return true;
        }
        if (number.TryGetDouble(out var d) && double.IsFinite(d) && Math.Floor(d) == d && d >= long.MinValue && d < long.MaxValue)
        {
            value = (long)d;
            return true;
        }
        return false;
    }
}
