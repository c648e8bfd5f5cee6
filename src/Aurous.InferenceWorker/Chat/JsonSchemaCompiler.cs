using System.Text.Json;

namespace Aurous.InferenceWorker.Chat;

/// <summary>
/// Compiles <c>response_format</c> into a <see cref="SchemaNode"/> tree. Supported subset of JSON Schema:
/// <c>type</c> (a single name: object, array, string, number, integer, boolean, null), <c>properties</c>,
/// <c>required</c>, <c>additionalProperties</c> (absent or false: only declared properties), <c>items</c>,
/// <c>minItems</c>, <c>maxItems</c>, <c>maxLength</c>, <c>enum</c> (strings, numbers, booleans, null), and the
/// annotations <c>title</c>, <c>description</c>, <c>$schema</c>, <c>$comment</c>, <c>default</c>, <c>examples</c>
/// (ignored). A schema without <c>type</c> or <c>enum</c> means any value. Every other keyword is refused with
/// <see cref="ChatRequestException"/> 400 <c>unsupported_schema</c>; a malformed schema with 400 <c>invalid_request</c>.
/// </summary>
public static class JsonSchemaCompiler
{
    /// <summary>Strings without maxLength stop at this many characters (only the closing quote is allowed after).</summary>
    public const int DefaultMaxStringLength = 64;
    /// <summary>Numbers carry at most this many digits (integer and fraction together).</summary>
    public const int MaxNumberDigits = 12;
    /// <summary>Arrays without maxItems (and json_object arrays) hold at most this many items.</summary>
    public const int DefaultMaxItems = 16;
    /// <summary>json_object objects hold at most this many members.</summary>
    public const int DefaultMaxMembers = 8;
    /// <summary>json_object: objects/arrays nest at most this deep; deeper, only scalars.</summary>
    public const int FreeMaxDepth = 4;
    public const int MaxSchemaDepth = 16;
    public const int MaxProperties = 64;
    public const int MaxEnumValues = 64;

    private static readonly HashSet<string> Annotations = ["title", "description", "$schema", "$comment", "default", "examples"];

    /// <summary>A function without <c>parameters</c>: its arguments are <c>{}</c>.</summary>
    public static readonly SchemaNode NoArguments = new() { Kind = SchemaNode.NodeKind.Object };

    /// <summary>The root for <c>{"type":"json_object"}</c>: any JSON object.</summary>
    public static SchemaNode JsonObject => SchemaNode.FreeObject;

    /// <summary>
    /// Compiles a JSON Schema whose root must be an object: a json_schema <c>response_format</c> or a tool's
    /// <c>parameters</c>. <paramref name="path"/> names it in error messages.
    /// </summary>
    public static SchemaNode Compile(JsonElement schema, string path = "response_format.json_schema.schema")
    {
        var root = Node(schema, path, 0);
        if (root.Kind != SchemaNode.NodeKind.Object)
        {
            throw Invalid($"the root of '{path}' must be {{\"type\": \"object\", ...}}");
        }
        return root;
    }

    private static SchemaNode Node(JsonElement s, string path, int depth)
    {
        if (s.ValueKind != JsonValueKind.Object)
        {
            throw Invalid($"'{path}' must be a JSON Schema object");
        }
        if (depth > MaxSchemaDepth)
        {
            throw new ChatRequestException(400, "unsupported_schema", $"'{path}': schemas nest at most {MaxSchemaDepth} levels deep");
        }
        string? type = null;
        foreach (var p in s.EnumerateObject())
        {
            switch (p.Name)
            {
                case "type":
                    if (p.Value.ValueKind != JsonValueKind.String)
                    {
                        throw Unsupported($"{path}.type", "'type' must be a single type name (type unions are not supported)");
                    }
                    type = p.Value.GetString();
                    break;
                case "properties" or "required" or "additionalProperties" or "items" or "minItems" or "maxItems" or "maxLength" or "enum":
                    break;
                default:
                    if (!Annotations.Contains(p.Name))
                    {
                        throw Unsupported($"{path}.{p.Name}", $"the keyword '{p.Name}' is not supported");
                    }
                    break;
            }
        }

        if (s.TryGetProperty("enum", out var en))
        {
            return Enum(en, $"{path}.enum");
        }
        switch (type)
        {
            case null:
                return SchemaNode.AnyValue;
            case "object":
                return Object(s, path, depth);
            case "array":
            {
                var items = s.TryGetProperty("items", out var it) ? Node(it, $"{path}.items", depth + 1) : SchemaNode.AnyValue;
                var min = Count(s, "minItems", path) ?? 0;
                var max = Count(s, "maxItems", path) ?? Math.Max(min, DefaultMaxItems);
                if (min > max)
                {
                    throw Invalid($"'{path}': minItems ({min}) exceeds maxItems ({max})");
                }
                if (max > 1024)
                {
                    throw Unsupported($"{path}.maxItems", "'maxItems' above 1024 is not supported");
                }
                return new SchemaNode { Kind = SchemaNode.NodeKind.Array, Items = items, MinItems = min, MaxItems = max };
            }
            case "string":
            {
                var max = Count(s, "maxLength", path) ?? DefaultMaxStringLength;
                if (max > 4096)
                {
                    throw Unsupported($"{path}.maxLength", "'maxLength' above 4096 is not supported");
                }
                return new SchemaNode { Kind = SchemaNode.NodeKind.String, MaxLength = max };
            }
            case "number":
                return SchemaNode.AnyNumber;
            case "integer":
                return new SchemaNode { Kind = SchemaNode.NodeKind.Integer };
            case "boolean":
                return SchemaNode.Boolean;
            case "null":
                return SchemaNode.Null;
            default:
                throw Unsupported($"{path}.type", $"the type '{type}' is not supported");
        }
    }

    private static SchemaNode Object(JsonElement s, string path, int depth)
    {
        if (s.TryGetProperty("additionalProperties", out var ap) && ap.ValueKind != JsonValueKind.False)
        {
            throw Unsupported($"{path}.additionalProperties", "'additionalProperties' may only be false (only declared properties are generated)");
        }
        var props = new List<(string, SchemaNode, bool)>();
        var names = new List<string>();
        if (s.TryGetProperty("properties", out var ps))
        {
            if (ps.ValueKind != JsonValueKind.Object)
            {
                throw Invalid($"'{path}.properties' must be an object");
            }
            foreach (var p in ps.EnumerateObject())
            {
                if (names.Contains(p.Name))
                {
                    throw Invalid($"'{path}.properties' declares '{p.Name}' twice");
                }
                names.Add(p.Name);
                props.Add((p.Name, Node(p.Value, $"{path}.properties.{p.Name}", depth + 1), false));
            }
        }
        if (props.Count > MaxProperties)
        {
            throw Unsupported($"{path}.properties", $"objects may declare at most {MaxProperties} properties");
        }
        if (s.TryGetProperty("required", out var req))
        {
            if (req.ValueKind != JsonValueKind.Array)
            {
                throw Invalid($"'{path}.required' must be an array of property names");
            }
            foreach (var r in req.EnumerateArray())
            {
                var at = r.ValueKind == JsonValueKind.String ? names.IndexOf(r.GetString()!) : -1;
                if (at < 0)
                {
                    throw Invalid($"'{path}.required' names {r.GetRawText()}, which is not a declared property");
                }
                props[at] = (props[at].Item1, props[at].Item2, true);
            }
        }
        return new SchemaNode
        {
            Kind = SchemaNode.NodeKind.Object,
            Properties = props,
            KeyTexts = names.Select(n => JsonSerializer.Serialize(n)).ToArray(),
        };
    }

    private static SchemaNode Enum(JsonElement en, string path)
    {
        if (en.ValueKind != JsonValueKind.Array || en.GetArrayLength() == 0)
        {
            throw Invalid($"'{path}' must be a non-empty array");
        }
        if (en.GetArrayLength() > MaxEnumValues)
        {
            throw Unsupported(path, $"'enum' may list at most {MaxEnumValues} values");
        }
        var texts = new List<string>();
        foreach (var v in en.EnumerateArray())
        {
            var text = v.ValueKind switch
            {
                JsonValueKind.String => JsonSerializer.Serialize(v.GetString()),
                JsonValueKind.Number => v.GetRawText(),
                JsonValueKind.True => "true",
                JsonValueKind.False => "false",
                JsonValueKind.Null => "null",
                _ => throw Unsupported(path, "'enum' values must be strings, numbers, booleans or null"),
            };
            if (!texts.Contains(text))
            {
                texts.Add(text);
            }
        }
        return new SchemaNode { Kind = SchemaNode.NodeKind.Literal, Literals = texts.ToArray() };
    }

    private static int? Count(JsonElement s, string name, string path)
    {
        if (!s.TryGetProperty(name, out var v))
        {
            return null;
        }
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out var n) || n < 0)
        {
            throw Invalid($"'{path}.{name}' must be a non-negative integer");
        }
        return n;
    }

    private static ChatRequestException Unsupported(string path, string message) => new(400, "unsupported_schema", $"'{path}': {message}");

    private static ChatRequestException Invalid(string message) => new(400, "invalid_request", message);
}
