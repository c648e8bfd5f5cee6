using Aurous.Models;

namespace Aurous.InferenceWorker.Tests;

/// <summary>A throw-away copy of the repository's model manifests (no weights), deleted on dispose.</summary>
public sealed class TempModels : IDisposable
{
    /// <param name="copyRepositoryManifests">False: start empty, for tests that declare their own models with <see cref="AddManifest"/>
    /// and should not pay for generating the repository's.</param>
    public TempModels(bool copyRepositoryManifests = true)
    {
        Directory = Path.Combine(Path.GetTempPath(), "aurous-models-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Directory);
        if (!copyRepositoryManifests)
        {
            return;
        }
        var source = ModelCatalog.LocateModelsDirectory(null, AppContext.BaseDirectory);
        foreach (var manifest in System.IO.Directory.EnumerateFiles(source, ModelCatalog.ManifestFileName, SearchOption.AllDirectories))
        {
            var target = Path.Combine(Directory, Path.GetRelativePath(source, manifest));
            System.IO.Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(manifest, target);
        }
    }

    public string Directory { get; }

    public ModelCatalog Catalog() => ModelCatalog.Load(Directory);

    /// <summary>Writes <paramref name="manifestJson"/> as model <paramref name="id"/>'s manifest; returns the model's directory.</summary>
    public string AddManifest(string id, string manifestJson)
    {
        var directory = Path.Combine(Directory, id);
        System.IO.Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, ModelCatalog.ManifestFileName), manifestJson);
        return directory;
    }

    /// <summary>A chat model's manifest for <paramref name="generator"/>, declaring <paramref name="roles"/> as <c>{role}.onnx</c> / <c>{role}.json</c> files.</summary>
    public static string ChatManifest(string id, string generator, IEnumerable<string> roles)
    {
        var files = string.Join(", ", roles.Select(r => $"\"{r}\": \"{r}{(r is "decoder" or "embeddings" or "vision" ? ".onnx" : ".json")}\""));
        return $$"""
            {
              "id": "{{id}}", "kind": "chat", "context_window": 4096,
              "credit_rates": { "input": { "text": 1 }, "output": { "text": 1 } },
              "files": { {{files}} },
              "generator": "{{generator}}"
            }
            """;
    }

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
