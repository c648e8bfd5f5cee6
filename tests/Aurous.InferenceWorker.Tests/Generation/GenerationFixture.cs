using System.Text.Json;
using Aurous.InferenceWorker.Generation;
using Aurous.InferenceWorker.Media;
using Aurous.ModelForge;
using Aurous.Models;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using SkiaSharp;

namespace Aurous.InferenceWorker.Tests.Generation;

/// <summary>
/// The repository's image, video and embedding manifests and LoRAs, forged into a temp models folder; a generator on
/// CPU over them, and (started on demand) a worker host whose DI container holds the registered generator and dispatcher.
/// </summary>
public sealed class GenerationFixture : IAsyncLifetime
{
    public const string Canvas = "aurous-canvas-1.0";
    public const string Motion = "aurous-motion-1.0";
    public const string Embed = "aurous-embed-vision-1.0";
    public static readonly string[] Loras = ["canvas-ink-sketch", "canvas-neon-noir", "canvas-watercolor"];

    private readonly TempModels _models = new(copyRepositoryManifests: false);
    private readonly SemaphoreSlim _workerGate = new(1, 1);
    private WebApplicationFactory<Program>? _worker;

    public string ModelsDirectory => _models.Directory;
    public GenerationModels Models { get; private set; } = null!;
    public OnnxMediaGenerator Generator { get; private set; } = null!;
    public IReadOnlyList<string> Forged { get; private set; } = [];

    public Task InitializeAsync()
    {
        var source = ModelCatalog.LocateModelsDirectory(null, AppContext.BaseDirectory);
        foreach (var relative in new[] { Canvas, Motion, Embed }.Concat(Loras.Select(l => Path.Combine(LoraCatalog.DirectoryName, l))))
        {
            var target = Path.Combine(_models.Directory, relative);
            Directory.CreateDirectory(target);
            File.Copy(Path.Combine(source, relative, ModelCatalog.ManifestFileName), Path.Combine(target, ModelCatalog.ManifestFileName));
        }
        Forged = Forge.EnsureGenerated(_models.Catalog());
        Models = new GenerationModels(_models.Directory, GenerationSessions.Cpu());
        Generator = new OnnxMediaGenerator(Models, new GenerationOptions(), new MediaOptions());
        return Task.CompletedTask;
    }

    /// <summary>A worker on this folder (CPU), started once and waited for until its models are loaded.</summary>
    public async Task<IServiceProvider> WorkerServicesAsync()
    {
        await _workerGate.WaitAsync();
        try
        {
            if (_worker is null)
            {
                _worker = TestWorker.Create(builder =>
                {
                    builder.UseSetting("Models:Path", _models.Directory);
                    builder.UseSetting("Inference:ExecutionProvider", "cpu");
                });
                var client = _worker.CreateAuthorizedClient();
                var deadline = DateTime.UtcNow.AddSeconds(60);
                while (JsonDocument.Parse(await client.GetStringAsync("/v1/info")).RootElement.GetProperty("status").GetString() == "loading"
                    && DateTime.UtcNow < deadline)
                {
                    await Task.Delay(100);
                }
            }
            return _worker.Services;
        }
        finally
        {
            _workerGate.Release();
        }
    }

    public Task<GeneratedMedia> ImageAsync(string size = "1k_1_1", long seed = 42, string? lora = null, string prompt = "a lighthouse on a cliff at dusk",
        string? negative = null, GenerationStep? onStep = null, CancellationToken cancellationToken = default)
    {
        var s = GenerationSizes.FindImage(size) ?? throw new ArgumentException(size);
        return Generator.GenerateImageAsync(new ImageGenerationRequest(Canvas, prompt, negative, s.Width, s.Height, seed, lora),
            onStep ?? NoSteps, cancellationToken);
    }

    public static readonly GenerationStep NoSteps = (_, _, _) => ValueTask.CompletedTask;

    /// <summary>Decodes a PNG with SkiaSharp into RGBA bytes.</summary>
    public static (int Width, int Height, byte[] Rgba) Decode(byte[] png)
    {
        using var bitmap = SKBitmap.Decode(png) ?? throw new InvalidDataException("not an image SkiaSharp can decode");
        using var rgba = bitmap.Copy(SKColorType.Rgba8888) ?? throw new InvalidDataException("cannot convert to RGBA");
        return (rgba.Width, rgba.Height, rgba.GetPixelSpan().ToArray());
    }

    /// <summary>Mean absolute difference of the RGB channels of two same-size PNGs (0-255).</summary>
    public static double MeanAbsoluteDifference(byte[] pngA, byte[] pngB)
    {
        var a = Decode(pngA);
        var b = Decode(pngB);
        a.Width.ShouldBe(b.Width);
        a.Height.ShouldBe(b.Height);
        long sum = 0;
        long count = 0;
        for (var i = 0; i < a.Rgba.Length; i++)
        {
            if (i % 4 == 3)
            {
                continue;
            }
            sum += Math.Abs(a.Rgba[i] - b.Rgba[i]);
            count++;
        }
        return (double)sum / count;
    }

    public async Task DisposeAsync()
    {
        if (_worker is not null)
        {
            await _worker.DisposeAsync();
        }
        Models?.Dispose();
        _models.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class GenerationCollection : ICollectionFixture<GenerationFixture>
{
    public const string Name = "generation";
}
