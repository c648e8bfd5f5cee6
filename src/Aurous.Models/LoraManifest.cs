namespace Aurous.Models;

/// <summary>
/// The contents of <c>models/loras/&lt;id&gt;/manifest.json</c>: one LoRA adapter of an image or video generator. The
/// adapter file is in ONNX Runtime's adapter format (<c>.onnx_adapter</c>) and is applied to
/// <see cref="BaseModel"/> at run time; the preview is a PNG the base model made with the adapter.
/// </summary>
public sealed record LoraManifest
{
    public required string Id { get; init; }
    /// <summary>Display name, e.g. "Watercolor".</summary>
    public required string Name { get; init; }
    /// <summary>The style in words; the dispatcher compares prompts with it.</summary>
    public required string Description { get; init; }
    /// <summary>Words that select this LoRA when a prompt contains one (case-insensitive).</summary>
    public IReadOnlyList<string> TriggerWords { get; init; } = [];
    /// <summary>The catalog model id the adapter was made for.</summary>
    public required string BaseModel { get; init; }
    /// <summary>Unix seconds.</summary>
    public long Created { get; init; }
    /// <summary>Preview PNG, relative to the LoRA's directory.</summary>
    public required string Preview { get; init; }
    /// <summary>The <c>.onnx_adapter</c> file, relative to the LoRA's directory.</summary>
    public required string Adapter { get; init; }
    /// <summary>Which ModelForge recipe writes the adapter and preview when no real ones are present; null for none.</summary>
    public string? Generator { get; init; }
}

/// <summary>A LoRA manifest plus the directory its files live in.</summary>
public sealed record CatalogLora(LoraManifest Manifest, string Directory)
{
    public string Id => Manifest.Id;
    public string AdapterPath => Path.Combine(Directory, Manifest.Adapter);
    public string PreviewPath => Path.Combine(Directory, Manifest.Preview);
}
