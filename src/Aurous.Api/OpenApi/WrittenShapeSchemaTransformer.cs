using System.Text.Json.Serialization;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Aurous.Api.OpenApi;

/// <summary>
/// Makes the schemas generated from the answer records say what the API writes: a property left out when null
/// (<c>key</c>, <c>secret</c>: only in the answers that reveal them) is not required, and numbers are numbers (the
/// serializer's leniency for reading numbers from strings says nothing of what it writes).
/// </summary>
internal sealed class WrittenShapeSchemaTransformer : IOpenApiSchemaTransformer
{
    public Task TransformAsync(OpenApiSchema schema, OpenApiSchemaTransformerContext context, CancellationToken cancellationToken)
    {
        if (schema.Type is { } type && (type & (JsonSchemaType.Integer | JsonSchemaType.Number)) != 0 && (type & JsonSchemaType.String) != 0)
        {
            schema.Type = type & ~JsonSchemaType.String;
            schema.Pattern = null;
        }
        if (schema.Required is { Count: > 0 } required)
        {
            foreach (var property in context.JsonTypeInfo.Properties)
            {
                if (property.AttributeProvider?.GetCustomAttributes(typeof(JsonIgnoreAttribute), true).OfType<JsonIgnoreAttribute>()
                        .Any(a => a.Condition == JsonIgnoreCondition.WhenWritingNull) == true)
                {
                    required.Remove(property.Name);
                }
            }
        }
        return Task.CompletedTask;
    }
}
