using System.Collections.Frozen;
using System.Text.Json;

namespace Aurous.Models;

/// <summary>
/// The LoRA adapters of the image and video generators, read once from <c>&lt;models folder&gt;/loras</c> (one directory
/// per LoRA id, each with a manifest.json). The API lists them (GET /v1/loras) and serves their previews; the
/// InferenceWorker applies and dispatches them. A models folder without a <c>loras</c> directory has no LoRAs.
/// </summary>
public sealed class LoraCatalog
{
    public const string DirectoryName = "loras";

    private readonly FrozenDictionary<string, CatalogLora> _byId;

    public LoraCatalog(IEnumerable<CatalogLora> loras)
    {
        Loras = loras.OrderBy(l => l.Id, StringComparer.Ordinal).ToArray();
        var map = new Dictionary<string, CatalogLora>(StringComparer.Ordinal);
        foreach (var lora in Loras)
        {
            if (!map.TryAdd(lora.Id, lora))
            {
                throw new InvalidOperationException($"LoRA id '{lora.Id}' is declared more than once.");
            }
        }
        _byId = map.ToFrozenDictionary(StringComparer.Ordinal);
    }

    /// <summary>Every LoRA, in id order.</summary>
    public IReadOnlyList<CatalogLora> Loras { get; }

    public bool TryGet(string id, out CatalogLora lora) => _byId.TryGetValue(id, out lora!);

    /// <summary>The LoRAs made for <paramref name="baseModelId"/> (a model id, not an alias), in id order.</summary>
    public IReadOnlyList<CatalogLora> ForBaseModel(string baseModelId) =>
        Loras.Where(l => string.Equals(l.Manifest.BaseModel, baseModelId, StringComparison.Ordinal)).ToArray();

    /// <summary>
    /// Reads <c>&lt;modelsDirectory&gt;/loras/*/manifest.json</c>. When <paramref name="models"/> is given, every LoRA's
    /// base model must be one of its models (by id) of kind image or video.
    /// </summary>
    public static LoraCatalog Load(string modelsDirectory, ModelCatalog? models = null)
    {
        var root = Path.Combine(modelsDirectory, DirectoryName);
        if (!Directory.Exists(root))
        {
            return new LoraCatalog([]);
        }
        var loras = new List<CatalogLora>();
        foreach (var dir in Directory.EnumerateDirectories(root).Order(StringComparer.Ordinal))
        {
            var path = Path.Combine(dir, ModelCatalog.ManifestFileName);
            if (!File.Exists(path))
            {
                continue;
            }
            LoraManifest manifest;
            try
            {
                manifest = JsonSerializer.Deserialize<LoraManifest>(File.ReadAllText(path), ModelCatalog.ManifestJson)
                    ?? throw new InvalidDataException("empty manifest");
            }
            catch (Exception ex) when (ex is JsonException or InvalidDataException)
            {
                throw new InvalidDataException($"LoRA manifest '{path}' is invalid: {ex.Message}", ex);
            }
            if (manifest.Id != Path.GetFileName(dir))
            {
                throw new InvalidDataException($"LoRA manifest '{path}' declares id '{manifest.Id}' but lives in '{Path.GetFileName(dir)}'.");
            }
            if (models is not null
                && (!models.TryResolve(manifest.BaseModel, out var baseModel) || baseModel.Manifest.Id != manifest.BaseModel
                    || baseModel.Manifest.Kind is not (ModelKind.Image or ModelKind.Video)))
            {
                throw new InvalidDataException($"LoRA manifest '{path}' names base model '{manifest.BaseModel}', which is not an image or video model of this catalog.");
            }
            loras.Add(new CatalogLora(manifest, dir));
        }
        return new LoraCatalog(loras);
    }
}
