using System.Diagnostics;
using Aurous.ModelForge.Onnx;
using Aurous.Models;
using Microsoft.Extensions.Logging;

namespace Aurous.ModelForge;

/// <summary>
/// Generates the files of catalog models that have a <c>generator</c> in their manifest and whose files are missing,
/// and regenerates ONNX files that an older recipe of this forge wrote (producer <c>aurous-modelforge</c>, recording an
/// <c>aurous.generator</c> the manifest's generator does not write, e.g. tiny-clip-v1 files under a tiny-clip-v2
/// manifest), together with the JSON files that go with them. A real export dropped into the model's directory with the
/// same file names is never overwritten.
/// </summary>
public static class Forge
{
    private static readonly IReadOnlyDictionary<string, IModelGenerator> KnownGenerators =
        new IModelGenerator[] { new TinyDiffusionV1(), new TinyClipV2(), new TinyTextEncoderV2(), new TinyDecoderV2(), new TinyDecoderV1() }.ToDictionary(g => g.Name, StringComparer.Ordinal);

    public static IReadOnlyCollection<string> GeneratorNames => KnownGenerators.Keys.ToArray();

    public static IModelGenerator GetGenerator(string name) =>
        KnownGenerators.TryGetValue(name, out var generator)
            ? generator
            : throw new InvalidOperationException(
                $"Unknown model generator '{name}'. Known generators: {string.Join(", ", KnownGenerators.Keys.Order(StringComparer.Ordinal))}.");

    /// <summary>
    /// For each model with a generator, writes every declared file that does not exist yet or is a stale forge output (to
    /// a temp file in the same directory, then an atomic rename, so concurrent callers and crashes never leave a
    /// half-written model). Where a stale forge output is found, the generator's <see cref="IModelGenerator.UnversionedRoles"/>
    /// files (tokenizer, config JSON) are rewritten as well when their content differs, so an upgraded recipe never
    /// serves its new graphs with the old recipe's vocabulary. Returns the paths written. Throws on an unknown generator
    /// or a manifest the generator cannot serve.
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
            var missing = new List<string>();
            var stale = new List<string>();
            foreach (var (role, fileName) in model.Manifest.Files)
            {
                var path = Path.Combine(model.Directory, fileName);
                if (!File.Exists(path))
                {
                    missing.Add(role);
                }
                else if (OnnxProvenance.ReadForgeGenerator(path) is { } recorded && !generator.RecordedGeneratorNames.Contains(recorded))
                {
                    stale.Add(role);
                    log?.LogInformation("Regenerating {Role} of model {ModelId}: {Path} was written by {OldGenerator}, the manifest asks for {Generator}",
                        role, model.Manifest.Id, path, recorded.Length == 0 ? "an unnamed forge recipe" : recorded, generatorName);
                }
            }

            // A stale forge file means an older recipe wrote this directory, JSON files included; they cannot say so
            // themselves, so compare them with what this recipe writes. Never done without a stale forge file: a real
            // export's tokenizer and configs are not ours to touch.
            var companions = new Dictionary<string, byte[]>(StringComparer.Ordinal);
            if (stale.Count > 0)
            {
                foreach (var (role, fileName) in model.Manifest.Files)
                {
                    var path = Path.Combine(model.Directory, fileName);
                    if (generator.UnversionedRoles.Contains(role) && !missing.Contains(role) && !stale.Contains(role)
                        && generator.Generate(model.Manifest, role) is var content && !File.ReadAllBytes(path).AsSpan().SequenceEqual(content))
                    {
                        companions[role] = content;
                        log?.LogInformation("Regenerating {Role} of model {ModelId}: {Path} is an older recipe's, the manifest asks for {Generator}",
                            role, model.Manifest.Id, path, generatorName);
                    }
                }
            }

            // Stale ONNX files last: they are what marks the directory as an older recipe's, so a crash part-way leaves
            // them in place and the next start finishes the upgrade (companions included).
            var plan = missing.Order(StringComparer.Ordinal)
                .Concat(companions.Keys.Order(StringComparer.Ordinal))
                .Concat(stale.Order(StringComparer.Ordinal));
            foreach (var role in plan)
            {
                if (!generator.Roles.Contains(role))
                {
                    throw new InvalidOperationException(
                        $"Model '{model.Manifest.Id}' declares file role '{role}', which generator '{generatorName}' does not produce (it writes: {string.Join(", ", generator.Roles)}).");
                }
                var stopwatch = Stopwatch.StartNew();
                var path = model.FilePath(role);
                var content = companions.TryGetValue(role, out var known) ? known : generator.Generate(model.Manifest, role);
                WriteAtomically(path, content, replace: !missing.Contains(role));
                written.Add(path);
                log?.LogInformation("Generated {Role} of model {ModelId} with {Generator} at {Path} in {ElapsedMs} ms",
                    role, model.Manifest.Id, generatorName, path, stopwatch.ElapsedMilliseconds);
            }
        }
        // LoRAs last: their previews are made by the models written above.
        written.AddRange(LoraForge.EnsureGenerated(catalog, log));
        return written;
    }

    internal static void WriteAtomically(string path, byte[] content, bool replace)
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
