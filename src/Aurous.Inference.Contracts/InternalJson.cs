using System.Text.Json;
using System.Text.Json.Serialization;

namespace Aurous.Inference.Contracts;

/// <summary>How both sides read and write the internal bodies: snake_case, nulls left out, numbers only as numbers.</summary>
public static class InternalJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.Strict,
    };
}
