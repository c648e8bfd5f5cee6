using System.Diagnostics;
using System.Security.Cryptography;
using Aurous.ModelForge;

namespace Aurous.InferenceWorker.Tests;

public sealed class ForgeTests
{
    [Fact]
    public void EnsureGenerated_writes_missing_files_fast_and_byte_identically()
    {
        using var first = new TempModels();
        using var second = new TempModels();

        var stopwatch = Stopwatch.StartNew();
        var written = Forge.EnsureGenerated(first.Catalog());
        stopwatch.Stop();
        Forge.EnsureGenerated(second.Catalog());

        string[] files = ["image_encoder.onnx", "text_encoder.onnx", "tokenizer.json"];
        written.ShouldBe(files.Select(f => Path.Combine(first.Directory, "aurous-embed-vision-1.0", f)).ToArray(), ignoreOrder: true);
        stopwatch.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(3));
        foreach (var file in files)
        {
            Hash(Path.Combine(first.Directory, "aurous-embed-vision-1.0", file))
                .ShouldBe(Hash(Path.Combine(second.Directory, "aurous-embed-vision-1.0", file)), file);
        }
        Directory.EnumerateFiles(first.Directory, "*.tmp", SearchOption.AllDirectories).ShouldBeEmpty();
    }

    [Fact]
    public void EnsureGenerated_keeps_existing_files()
    {
        using var models = new TempModels();
        var path = Path.Combine(models.Directory, "aurous-embed-vision-1.0", "text_encoder.onnx");
        File.WriteAllText(path, "a real export would be here");

        Forge.EnsureGenerated(models.Catalog()).Select(Path.GetFileName).ShouldBe(["image_encoder.onnx", "tokenizer.json"], ignoreOrder: true);
        Forge.EnsureGenerated(models.Catalog()).ShouldBeEmpty();

        File.ReadAllText(path).ShouldBe("a real export would be here");
    }

    [Fact]
    public void An_unknown_generator_is_a_clear_error()
    {
        using var models = new TempModels();
        var manifest = Path.Combine(models.Directory, "aurous-embed-vision-1.0", "manifest.json");
        File.WriteAllText(manifest, File.ReadAllText(manifest).Replace(TinyClipV1.GeneratorName, "aurous-forge/nope"));

        var error = Should.Throw<InvalidOperationException>(() => Forge.EnsureGenerated(models.Catalog()));

        error.Message.ShouldContain("Unknown model generator 'aurous-forge/nope'");
        error.Message.ShouldContain(TinyClipV1.GeneratorName);
    }

    private static string Hash(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));
}
