using System.Diagnostics;
using Aurous.ModelForge.Onnx;
using Aurous.Models;
using Microsoft.Extensions.Logging;

namespace Aurous.ModelForge;

/// <summary>
/// Generates the files of catalog models that have a <c>generator</c> in their manifest and whose files are missing,
/// and regenerates ONNX files that an older recipe of this forge wrote (producer <c>aurous-modelforge</c>, recording an
/// <c>aurous.generator</c> the manifest's generator does not write, e.g. tiny-clip-v1 files under a tiny-clip-v2
/// manifest). A real export dropped into the model's directory with the same file names is never overwritten.
/// </summary>
public static class Forge
{
    private static readonly IReadOnlyDictionary<string, IModelGenerator> KnownGenerators =
        new IModelGenerator[] { new TinyClipV2(), new TinyClipV1(), new TinyTextEncoderV2(), new TinyTextEncoderV1(), new TinyDecoderV1() }.ToDictionary(g => g.Name, StringComparer.Ordinal);

    public static IReadOnlyCollection<string> GeneratorNames => KnownGenerators.Keys.ToArray();

    public static IModelGenerator GetGenerator(string name) =>
        KnownGenerators.TryGetValue(name, out var generator)
            ? generator
            : throw new InvalidOperationException(
                $"Unknown model generator '{name}'. Known generators: {string.Join(", ", KnownGenerators.Keys.Order(StringComparer.Ordinal))}.");

    /// <summary>
    /// For each model with a generator, writes every declared file that does not exist yet or is a stale forge output (to
    /// a temp file in the same directory, then an atomic rename, so concurrent callers and crashes never leave a
    /// half-written model). Returns the paths written. Throws on an unknown generator or a manifest the generator cannot serve.
    /// </summary>
    public static IReadOnlyList<string> EnsureGenerated(ModelCatalog catalog, ILogger? log = null)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        var written = new List<string>();
        foreach (var model in catalog.Models)
        {
            if (model.Manifest.Generator is not { Length: > 0 } generatorName)
            {
                continue;
            }
            var generator = GetGenerator(generatorName);
            var stale = new HashSet<string>(StringComparer.Ordinal);
            var missing = model.Manifest.Files
                .Where(f =>
                {
                    var path = Path.Combine(model.Directory, f.Value);
                    if (!File.Exists(path))
                    {
                        return true;
                    }
                    if (OnnxProvenance.ReadForgeGenerator(path) is { } recorded && !generator.RecordedGeneratorNames.Contains(recorded))
                    {
                        stale.Add(f.Key);
                        log?.LogInformation("Regenerating {Role} of model {ModelId}: {Path} was written by {OldGenerator}, the manifest asks for {Generator}",
                            f.Key, model.Manifest.Id, path, recorded.Length == 0 ? "an unnamed forge recipe" : recorded, generatorName);
                        return true;
                    }
                    return false;
                })
                .OrderBy(f => f.Key, StringComparer.Ordinal)
                .ToArray();
            foreach (var (role, fileName) in missing)
            {
                if (!generator.Roles.Contains(role))
                {
                    throw new InvalidOperationException(
                        $"Model '{model.Manifest.Id}' declares file role '{role}', which generator '{generatorName}' does not produce (it writes: {string.Join(", ", generator.Roles)}).");
                }
                var stopwatch = Stopwatch.StartNew();
                var path = Path.Combine(model.Directory, fileName);
                WriteAtomically(path, generator.Generate(model.Manifest, role), replace: stale.Contains(role));
                written.Add(path);
                log?.LogInformation("Generated {Role} of model {ModelId} with {Generator} at {Path} in {ElapsedMs} ms",
                    role, model.Manifest.Id, generatorName, path, stopwatch.ElapsedMilliseconds);
            }
        }
        return written;
    }

    private static void WriteAtomically(string path, byte[] content, bool replace)
    {
        var directory = Path.GetDirectoryName(path)!;
        Directory.CreateDirectory(directory);
        var temp = Path.Combine(directory, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                stream.Write(content);
                stream.Flush(flushToDisk: true);
            }
            try
            {
                // Replacing a stale forge output: a concurrent caller writes the same bytes, so either rename may win.
                File.Move(temp, path, overwrite: replace);
            }
            catch (IOException) when (File.Exists(path))
            {
                // Another process (the API, a second worker) finished the same file first, or a real export was
                // dropped in meanwhile: keep theirs.
            }
        }
        finally
        {
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }
    }
}
