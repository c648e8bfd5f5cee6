using System.Security.Cryptography;
using Aurous.ModelForge;

namespace Aurous.InferenceWorker.Tests;

public sealed class ForgeTests
{
    [Fact]
    public void EnsureGenerated_writes_missing_files_byte_identically()
    {
        using var first = new TempModels();
        using var second = new TempModels();

        var written = Forge.EnsureGenerated(first.Catalog());
        Forge.EnsureGenerated(second.Catalog());

        string[] files = ["image_encoder.onnx", "text_encoder.onnx", "tokenizer.json"];
        string[] chatFiles = ["decoder.onnx", "embeddings.onnx", "vision.onnx", "tokenizer.json", "tokenizer_config.json", "generation_config.json", "config.json"];
        string[] generatorFiles = ["text_encoder.onnx", "denoiser.onnx", "vae_decoder.onnx", "tokenizer.json", "scheduler_config.json"];
        string[] loraFiles = ["adapter.onnx_adapter", "preview.png"];
        written.ShouldBe(files.Select(f => Path.Combine(first.Directory, "aurous-embed-vision-1.0", f))
            .Concat(chatFiles.Select(f => Path.Combine(first.Directory, "aurous-grow-2.0-pro", f)))
            .Concat(new[] { "aurous-canvas-1.0", "aurous-motion-1.0" }.SelectMany(m => generatorFiles.Select(f => Path.Combine(first.Directory, m, f))))
            .Concat(new[] { "canvas-ink-sketch", "canvas-neon-noir", "canvas-watercolor" }.SelectMany(l => loraFiles.Select(f => Path.Combine(first.Directory, "loras", l, f))))
            .ToArray(), ignoreOrder: true);
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

        Forge.EnsureGenerated(models.Catalog()).Where(f => f.Contains("aurous-embed-vision-1.0", StringComparison.Ordinal))
            .Select(Path.GetFileName).ShouldBe(["image_encoder.onnx", "tokenizer.json"], ignoreOrder: true);
        Forge.EnsureGenerated(models.Catalog()).ShouldBeEmpty();

        File.ReadAllText(path).ShouldBe("a real export would be here");
    }

    [Fact]
    public void An_unknown_generator_is_a_clear_error()
    {
        using var models = new TempModels();
        var manifest = Path.Combine(models.Directory, "aurous-embed-vision-1.0", "manifest.json");
        File.WriteAllText(manifest, File.ReadAllText(manifest).Replace(TinyClipV2.GeneratorName, "aurous-forge/nope"));

        var error = Should.Throw<InvalidOperationException>(() => Forge.EnsureGenerated(models.Catalog()));

        error.Message.ShouldContain("Unknown model generator 'aurous-forge/nope'");
        error.Message.ShouldContain(TinyClipV2.GeneratorName);
    }

    [Fact]
    public void The_repository_model_uses_the_v2_recipe()
    {
        using var models = new TempModels();
        models.Catalog().Models.Single(m => m.Manifest.Id == "aurous-embed-vision-1.0").Manifest.Generator.ShouldBe(TinyClipV2.GeneratorName);
    }

    [Fact]
    public void EnsureGenerated_regenerates_stale_forge_files_but_keeps_current_and_foreign_ones()
    {
        using var models = new TempModels();
        var directory = Path.Combine(models.Directory, "aurous-embed-vision-1.0");
        var text = Path.Combine(directory, "text_encoder.onnx");
        var image = Path.Combine(directory, "image_encoder.onnx");
        var tokenizer = Path.Combine(directory, "tokenizer.json");
        // What an earlier recipe left behind: the same files, but the ONNX ones record the generators that wrote them
        // (tiny-clip-v1 recorded its text tower's tiny-text-encoder-v1).
        Forge.EnsureGenerated(models.Catalog()).Count(f => f.StartsWith(directory, StringComparison.Ordinal)).ShouldBe(3);
        const string olderText = "aurous-forge/tiny-text-encoder-v1", olderImage = "aurous-forge/tiny-clip-v1";
        File.WriteAllBytes(text, ModelForge.Onnx.OnnxWriter.Serialize(TinyTextEncoderV2.BuildModel("aurous-embed-vision-1.0", generatorName: olderText)));
        File.WriteAllBytes(image, ModelForge.Onnx.OnnxWriter.Serialize(TinyImageEncoderV1.BuildModel("aurous-embed-vision-1.0", olderImage, 224)));
        ModelForge.Onnx.OnnxProvenance.ReadForgeGenerator(text).ShouldBe(olderText);
        var tokenizerBefore = Hash(tokenizer);

        Forge.EnsureGenerated(models.Catalog()).ShouldBe([image, text], ignoreOrder: true);
        Forge.EnsureGenerated(models.Catalog()).ShouldBeEmpty();

        ModelForge.Onnx.OnnxProvenance.ReadForgeGenerator(text).ShouldBe(TinyClipV2.GeneratorName);
        ModelForge.Onnx.OnnxProvenance.ReadForgeGenerator(image).ShouldBe(TinyClipV2.GeneratorName);
        Hash(tokenizer).ShouldBe(tokenizerBefore);
        using var fresh = new TempModels();
        Forge.EnsureGenerated(fresh.Catalog());
        Hash(text).ShouldBe(Hash(Path.Combine(fresh.Directory, "aurous-embed-vision-1.0", "text_encoder.onnx")));
        Directory.EnumerateFiles(models.Directory, "*.tmp", SearchOption.AllDirectories).ShouldBeEmpty();

        // A file from another producer (a real export) is never replaced, whatever it contains.
        File.WriteAllText(text, "a real export would be here");
        Forge.EnsureGenerated(models.Catalog()).ShouldBeEmpty();
        File.ReadAllText(text).ShouldBe("a real export would be here");
    }

    [Fact]
    public void The_repository_chat_model_uses_the_vision_recipe()
    {
        using var models = new TempModels();
        var manifest = models.Catalog().Models.Single(m => m.Manifest.Id == "aurous-grow-2.0-pro").Manifest;
        manifest.Generator.ShouldBe(TinyDecoderV2.GeneratorName);
        manifest.Files.Keys.ShouldBe(["decoder", "embeddings", "vision", "tokenizer", "tokenizer_config", "generation_config", "config"], ignoreOrder: true);
    }

    [Fact]
    public void A_v1_chat_directory_is_upgraded_to_v2_json_files_included()
    {
        using var models = new TempModels(copyRepositoryManifests: false);
        var directory = models.AddManifest("chat", TempModels.ChatManifest("chat", TinyDecoderV1.GeneratorName, new TinyDecoderV1().Roles));
        Forge.EnsureGenerated(models.Catalog()).Count.ShouldBe(5);
        var generationConfig = Hash(Path.Combine(directory, "generation_config.json"));

        // What a machine that ran the v1 recipe has when the manifest moves to v2.
        models.AddManifest("chat", TempModels.ChatManifest("chat", TinyDecoderV2.GeneratorName, new TinyDecoderV2().Roles));
        var written = Forge.EnsureGenerated(models.Catalog());

        // The stale decoder is replaced, the new graphs are added, and the JSON files that differ (vocabulary, special
        // tokens, vision config) follow it; generation_config.json is the same in both and stays.
        written.Select(Path.GetFileName).ShouldBe(
            ["decoder.onnx", "embeddings.onnx", "vision.onnx", "tokenizer.json", "tokenizer_config.json", "config.json"], ignoreOrder: true);
        written[^1].ShouldEndWith("decoder.onnx", customMessage: "the stale file goes last, so an interrupted upgrade resumes");
        Hash(Path.Combine(directory, "generation_config.json")).ShouldBe(generationConfig);
        Forge.EnsureGenerated(models.Catalog()).ShouldBeEmpty();
        ModelForge.Onnx.OnnxProvenance.ReadForgeGenerator(Path.Combine(directory, "decoder.onnx")).ShouldBe(TinyDecoderV2.GeneratorName);
        using var fresh = new TempModels(copyRepositoryManifests: false);
        var freshDirectory = fresh.AddManifest("chat", TempModels.ChatManifest("chat", TinyDecoderV2.GeneratorName, new TinyDecoderV2().Roles));
        Forge.EnsureGenerated(fresh.Catalog());
        foreach (var file in Directory.EnumerateFiles(freshDirectory).Select(Path.GetFileName))
        {
            Hash(Path.Combine(directory, file!)).ShouldBe(Hash(Path.Combine(freshDirectory, file!)), file);
        }
    }

    [Fact]
    public void Json_files_beside_a_current_or_foreign_model_are_never_rewritten()
    {
        using var models = new TempModels(copyRepositoryManifests: false);
        var directory = models.AddManifest("chat", TempModels.ChatManifest("chat", TinyDecoderV2.GeneratorName, new TinyDecoderV2().Roles));
        Forge.EnsureGenerated(models.Catalog());
        var config = Path.Combine(directory, "config.json");
        File.WriteAllText(config, """{"edited": "by hand"}""");
        Forge.EnsureGenerated(models.Catalog()).ShouldBeEmpty();

        // A real export's decoder (another producer) does not make the forge touch the JSON files either.
        File.WriteAllText(Path.Combine(directory, "decoder.onnx"), "a real export would be here");
        Forge.EnsureGenerated(models.Catalog()).ShouldBeEmpty();
        File.ReadAllText(config).ShouldBe("""{"edited": "by hand"}""");
    }

    private static string Hash(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));
}
