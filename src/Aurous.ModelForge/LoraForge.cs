using System.Diagnostics;
using Aurous.Models;
using Microsoft.Extensions.Logging;

namespace Aurous.ModelForge;

/// <summary>
/// Writes the missing adapter and preview files of the LoRAs (models/loras) whose manifest names a forge recipe. The
/// adapter first, then the preview made with it, each atomically; a real adapter or preview dropped in is never touched
/// (a preview is only rendered when it is missing).
/// </summary>
public static class LoraForge
{
    public static IReadOnlyList<string> EnsureGenerated(ModelCatalog catalog, ILogger? log = null)
    {
        var written = new List<string>();
        var loras = LoraCatalog.Load(catalog.ModelsDirectory, catalog);
        foreach (var lora in loras.Loras)
        {
            if (lora.Manifest.Generator is not { Length: > 0 } generator)
            {
                continue;
            }
            if (generator != TinyDiffusionLoraV1.GeneratorName)
            {
                throw new InvalidOperationException($"Unknown LoRA generator '{generator}' in LoRA '{lora.Id}'. Known generators: {TinyDiffusionLoraV1.GeneratorName}.");
            }
            catalog.TryResolve(lora.Manifest.BaseModel, out var baseModel);
            if (baseModel.Manifest.Generator != TinyDiffusionV1.GeneratorName)
            {
                throw new InvalidOperationException(
                    $"LoRA '{lora.Id}' is made by '{generator}', which fits models of '{TinyDiffusionV1.GeneratorName}'; its base model '{baseModel.Manifest.Id}' is not one.");
            }
            var stopwatch = Stopwatch.StartNew();
            if (!File.Exists(lora.AdapterPath))
            {
                Forge.WriteAtomically(lora.AdapterPath, TinyDiffusionLoraV1.Adapter(lora.Id), replace: false);
                written.Add(lora.AdapterPath);
            }
            if (!File.Exists(lora.PreviewPath))
            {
                Forge.WriteAtomically(lora.PreviewPath, TinyDiffusionLoraV1.Preview(catalog.ModelsDirectory, lora), replace: false);
                written.Add(lora.PreviewPath);
            }
            if (stopwatch.ElapsedMilliseconds > 0 && written.Count > 0)
            {
                log?.LogInformation("Generated the files of LoRA {LoraId} with {Generator} in {ElapsedMs} ms", lora.Id, generator, stopwatch.ElapsedMilliseconds);
            }
        }
        return written;
    }
}
