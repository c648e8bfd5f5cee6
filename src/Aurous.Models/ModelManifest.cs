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
    /// <summary>How media parts are turned into tokens (and billed); null for text-only models.</summary>
    public MediaRules? Media { get; init; }
    /// <summary>Which ModelForge recipe generates the files when no real export is present; null for none.</summary>
    public string? Generator { get; init; }
}

[JsonConverter(typeof(JsonStringEnumConverter<ModelKind>))]
public enum ModelKind
{
    [JsonStringEnumMemberName("chat")] Chat,
    [JsonStringEnumMemberName("embedding")] Embedding,
    [JsonStringEnumMemberName("image")] Image,
    [JsonStringEnumMemberName("video")] Video,
}

/// <summary>Credits per 1M tokens, per direction and modality (text, visual, video).</summary>
public sealed record CreditRates
{
    public IReadOnlyDictionary<string, decimal> Input { get; init; } = new Dictionary<string, decimal>();
    public IReadOnlyDictionary<string, decimal> Output { get; init; } = new Dictionary<string, decimal>();
}

/// <summary>
/// The documented token rule for media: every image costs <see cref="ImageTokens"/> visual tokens; a video is sampled
/// into at most <see cref="VideoMaxFrames"/> evenly spaced frames, each costing <see cref="VideoFrameTokens"/> video tokens.
/// </summary>
public sealed record MediaRules
{
    public int ImageTokens { get; init; } = 256;
    public int VideoMaxFrames { get; init; } = 8;
    public int VideoFrameTokens { get; init; } = 64;
    /// <summary>Side of the square RGB input of the image encoder.</summary>
    public int ImageSize { get; init; } = 224;
    public long MaxMediaBytes { get; init; } = 20 * 1024 * 1024;
    public int FetchTimeoutSeconds { get; init; } = 10;
}
