using System.Text.Json.Serialization;

namespace Aurous.Models;

/// <summary>The contents of <c>models/&lt;id&gt;/manifest.json</c>: everything the platform knows about one public model.</summary>
public sealed record ModelManifest
{
    public required string Id { get; init; }
    public IReadOnlyList<string> Aliases { get; init; } = [];
    public required ModelKind Kind { get; init; }
    public string OwnedBy { get; init; } = "aurous-labs";
    /// <summary>Unix seconds, as OpenAI's model rows report it.</summary>
    public long Created { get; init; }
    public required int ContextWindow { get; init; }
    /// <summary>Supported output dimensions, or null when the model has a fixed shape.</summary>
    public IReadOnlyList<int>? Dimensions { get; init; }
    public int? NativeDimension { get; init; }
    public int? MaxInputItems { get; init; }
    public IReadOnlyList<string> Capabilities { get; init; } = [];
    public required CreditRates CreditRates { get; init; }
    /// <summary>Role -> file name inside the model directory (e.g. "text_encoder" -> "text_encoder.onnx").</summary>
    public IReadOnlyDictionary<string, string> Files { get; init; } = new Dictionary<string, string>();
    /// <summary>Which ModelForge recipe generates the files when no real export is present; null for none.</summary>
    public string? Generator { get; init; }
}

[JsonConverter(typeof(JsonStringEnumConverter<ModelKind>))]
public enum ModelKind
{
    [JsonStringEnumMemberName("chat")] Chat,
    [JsonStringEnumMemberName("embedding")] Embedding,
    [JsonStringEnumMemberName("image")] Image,
}

/// <summary>Credits per 1M tokens, per direction and modality (text, visual, video).</summary>
public sealed record CreditRates
{
    public IReadOnlyDictionary<string, decimal> Input { get; init; } = new Dictionary<string, decimal>();
    public IReadOnlyDictionary<string, decimal> Output { get; init; } = new Dictionary<string, decimal>();
}
