using System.Collections.Frozen;
using System.Text.Json;

namespace Aurous.Models;

/// <summary>
/// The public model catalog, read once from the models folder (one directory per model id, each with a manifest.json).
/// Both the API (GET /v1/models, validation, pricing) and the InferenceWorker (what to load) use it.
/// </summary>
public sealed class ModelCatalog
{
    public const string ManifestFileName = "manifest.json";

    internal static readonly JsonSerializerOptions ManifestJson = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
    };

    private readonly FrozenDictionary<string, CatalogModel> _byIdOrAlias;

    public ModelCatalog(string modelsDirectory, IEnumerable<CatalogModel> models)
    {
        ModelsDirectory = modelsDirectory;
        Models = models.OrderBy(m => m.Manifest.Id, StringComparer.Ordinal).ToArray();
        var map = new Dictionary<string, CatalogModel>(StringComparer.Ordinal);
        foreach (var model in Models)
        {
            foreach (var name in model.Manifest.Aliases.Prepend(model.Manifest.Id))
            {
                if (!map.TryAdd(name, model))
                {
                    throw new InvalidOperationException($"Model name '{name}' is declared by more than one manifest in {modelsDirectory}.");
                }
            }
        }
        _byIdOrAlias = map.ToFrozenDictionary(StringComparer.Ordinal);
    }

    public string ModelsDirectory { get; }

    /// <summary>Models in id order (aliases are not separate rows).</summary>
    public IReadOnlyList<CatalogModel> Models { get; }

    /// <summary>Resolves a public id or an alias (e.g. "aurous-embed-vision") to its model.</summary>
    public bool TryResolve(string idOrAlias, out CatalogModel model) => _byIdOrAlias.TryGetValue(idOrAlias, out model!);

    public static ModelCatalog Load(string modelsDirectory)
    {
        if (!Directory.Exists(modelsDirectory))
        {
            throw new DirectoryNotFoundException($"Models folder '{modelsDirectory}' does not exist.");
        }
        var models = new List<CatalogModel>();
        foreach (var dir in Directory.EnumerateDirectories(modelsDirectory).Order(StringComparer.Ordinal))
        {
            var path = Path.Combine(dir, ManifestFileName);
            if (!File.Exists(path))
            {
                continue;
            }
            ModelManifest manifest;
            try
            {
                manifest = JsonSerializer.Deserialize<ModelManifest>(File.ReadAllText(path), ManifestJson)
                    ?? throw new InvalidDataException("empty manifest");
            }
            catch (Exception ex) when (ex is JsonException or InvalidDataException)
            {
                throw new InvalidDataException($"Model manifest '{path}' is invalid: {ex.Message}", ex);
            }
            if (manifest.Id != Path.GetFileName(dir))
            {
                throw new InvalidDataException($"Model manifest '{path}' declares id '{manifest.Id}' but lives in '{Path.GetFileName(dir)}'.");
            }
            models.Add(new CatalogModel(manifest, dir));
        }
        return new ModelCatalog(modelsDirectory, models);
    }

    /// <summary>
    /// The models folder: configuration key <c>Models:Path</c> (env <c>Models__Path</c>) when set, else the repository's
    /// <c>models/</c> folder found by walking up from <paramref name="startDirectory"/>.
    /// </summary>
    public static string LocateModelsDirectory(string? configured, string startDirectory)
    {
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return Path.GetFullPath(configured);
        }
        for (var dir = new DirectoryInfo(startDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "models");
            if (Directory.Exists(candidate) && Directory.EnumerateFiles(candidate, ManifestFileName, SearchOption.AllDirectories).Any())
            {
                return candidate;
            }
        }
        throw new DirectoryNotFoundException($"No models folder found above '{startDirectory}'; set Models__Path.");
    }
}

/// <summary>A manifest plus the directory its files live in.</summary>
public sealed record CatalogModel(ModelManifest Manifest, string Directory)
{
    public string FilePath(string role) =>
        Manifest.Files.TryGetValue(role, out var file)
            ? Path.Combine(Directory, file)
            : throw new KeyNotFoundException($"Model '{Manifest.Id}' declares no '{role}' file.");
}
