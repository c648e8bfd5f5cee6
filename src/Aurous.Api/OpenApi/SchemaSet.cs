using System.Text.Json.Nodes;
using Microsoft.OpenApi;

namespace Aurous.Api.OpenApi;

/// <summary>One property of a hand-written object schema.</summary>
internal readonly record struct Property(string Name, IOpenApiSchema Schema, bool IsRequired);

/// <summary>
/// The hand-written component schemas of the document, and small builders for them. The handlers read their bodies as
/// JSON and write their answers by hand (that is what gives the exact error codes and wire bytes), so the schemas are
/// written here from the product documents rather than generated from types.
/// </summary>
internal sealed class SchemaSet(OpenApiDocument document)
{
    public OpenApiDocument Document { get; } = document;

    /// <summary>Registers a component schema under <paramref name="id"/>.</summary>
    public void Add(string id, IOpenApiSchema schema)
    {
        Document.Components ??= new OpenApiComponents();
        Document.Components.Schemas ??= new Dictionary<string, IOpenApiSchema>(StringComparer.Ordinal);
        Document.Components.Schemas[id] = schema;
    }

    /// <summary>A <c>$ref</c> to the component <paramref name="id"/>.</summary>
    public IOpenApiSchema Ref(string id) => new OpenApiSchemaReference(id, Document);

    /// <summary>A <c>$ref</c> to the component <paramref name="id"/>, or null.</summary>
    public IOpenApiSchema RefOrNull(string id) => new OpenApiSchema { AnyOf = [Ref(id), new OpenApiSchema { Type = JsonSchemaType.Null }] };

    public static Property Required(string name, IOpenApiSchema schema) => new(name, schema, true);

    public static Property Optional(string name, IOpenApiSchema schema) => new(name, schema, false);

    public static OpenApiSchema Object(string? description, params Property[] properties) => new()
    {
        Type = JsonSchemaType.Object,
        Description = description,
        Properties = properties.ToDictionary(p => p.Name, p => p.Schema, StringComparer.Ordinal),
        Required = properties.Where(p => p.IsRequired).Select(p => p.Name).ToHashSet(StringComparer.Ordinal),
    };

    public static OpenApiSchema String(string? description = null) => new() { Type = JsonSchemaType.String, Description = description };

    /// <summary>A string with a closed set of values.</summary>
    public static OpenApiSchema Enum(string? description, params string[] values) => new()
    {
        Type = JsonSchemaType.String,
        Description = description,
        Enum = values.Select(v => (JsonNode)JsonValue.Create(v)).ToList(),
    };

    /// <summary>A string that is always <paramref name="value"/> (an <c>object</c> discriminator).</summary>
    public static OpenApiSchema Const(string value) => Enum(null, value);

    public static OpenApiSchema Integer(string? description = null) => new() { Type = JsonSchemaType.Integer, Format = "int64", Description = description };

    public static OpenApiSchema Number(string? description = null) => new() { Type = JsonSchemaType.Number, Description = description };

    public static OpenApiSchema Boolean(string? description = null) => new() { Type = JsonSchemaType.Boolean, Description = description };

    /// <summary>Seconds since the Unix epoch.</summary>
    public static OpenApiSchema Timestamp(string? description = null) => Integer(description ?? "Unix time in seconds.");

    public static OpenApiSchema Array(IOpenApiSchema items, string? description = null) => new() { Type = JsonSchemaType.Array, Items = items, Description = description };

    /// <summary>An object whose keys are free and whose values follow <paramref name="values"/>.</summary>
    public static OpenApiSchema Map(IOpenApiSchema values, string? description = null) => new() { Type = JsonSchemaType.Object, AdditionalProperties = values, Description = description };

    /// <summary>Any JSON value (a JSON Schema given by the client, for example).</summary>
    public static OpenApiSchema Any(string? description = null) => new() { Description = description };

    public static OpenApiSchema OneOf(string? description, params IOpenApiSchema[] options) => new() { OneOf = options, Description = description };

    /// <summary>The schema, with null also allowed.</summary>
    public static OpenApiSchema OrNull(OpenApiSchema schema)
    {
        schema.Type = (schema.Type ?? JsonSchemaType.Object) | JsonSchemaType.Null;
        return schema;
    }

    /// <summary>Raw bytes (an image, a video).</summary>
    public static OpenApiSchema Binary() => new() { Type = JsonSchemaType.String, Format = "binary" };
}
