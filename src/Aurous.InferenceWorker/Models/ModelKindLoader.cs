using Aurous.Models;

namespace Aurous.InferenceWorker.Models;

/// <summary>
/// The loader of one model kind. A model without its main file (<paramref name="mainRole"/>) is unavailable, a fault;
/// otherwise the kind loads it inside one <see cref="ModelLoad"/> (span, load-time metric, result).
/// </summary>
/// <param name="kind">The kind in words, for the reason: "a chat model".</param>
internal abstract class ModelKindLoader(string mainRole, string kind)
{
    public HostedModel Load(CatalogModel model, string provider, string modelsDirectory)
    {
        var manifest = model.Manifest;
        if (!manifest.Files.ContainsKey(mainRole))
        {
            return ModelLoad.Unavailable(manifest, $"{kind} needs a '{mainRole}' file", fault: true);
        }
        var path = model.FilePath(mainRole);
        if (!File.Exists(path))
        {
            return ModelLoad.Unavailable(manifest, ModelLoad.Missing(path, manifest, modelsDirectory), fault: true);
        }
        using var load = new ModelLoad(manifest, path);
        return Load(load, model, path, provider);
    }

    /// <summary>Loads <paramref name="model"/> from its main file at <paramref name="path"/>, starting on <paramref name="provider"/>.</summary>
    protected abstract HostedModel Load(ModelLoad load, CatalogModel model, string path, string provider);
}
