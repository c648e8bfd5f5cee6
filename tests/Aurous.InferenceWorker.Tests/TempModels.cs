using Aurous.Models;

namespace Aurous.InferenceWorker.Tests;

/// <summary>A throw-away copy of the repository's model manifests (no weights), deleted on dispose.</summary>
public sealed class TempModels : IDisposable
{
    public TempModels()
    {
        Directory = Path.Combine(Path.GetTempPath(), "aurous-models-" + Guid.NewGuid().ToString("N"));
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
