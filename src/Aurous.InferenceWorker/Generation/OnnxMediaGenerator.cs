using System.Diagnostics;
using Aurous.InferenceWorker.Media;
using Aurous.Models;
using Microsoft.ML.OnnxRuntime;

namespace Aurous.InferenceWorker.Generation;

/// <summary>
/// <see cref="IMediaGenerator"/> over the diffusion models of the models folder. An image: prompt and negative prompt
/// through the text encoder, seeded noise at 1/8 of the size, the scheduler's denoising steps (the LoRA adapter active
/// in each), the VAE decoder, PNG. A video: the same per frame, its starting noise walking a quarter circle from the
/// seed's noise to the next seed's, so consecutive frames differ a little; frames go to ffmpeg as they are made.
/// Everything is a function of (model, prompt, negative prompt, size, seed, adapter): the same request gives the same
/// bytes on the same execution provider.
/// </summary>
public sealed class OnnxMediaGenerator(GenerationModels models, GenerationOptions options, MediaOptions media, ILogger<OnnxMediaGenerator>? log = null)
    : IMediaGenerator
{
    public async Task<GeneratedMedia> GenerateImageAsync(ImageGenerationRequest request, GenerationStep onStep, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var stopwatch = Stopwatch.StartNew();
        var (model, adapter) = await PrepareAsync(request.Model, request.LoraId, request.Width, request.Height, cancellationToken);
        using var activity = GenerationTelemetry.Start("generation.image", model, request.LoraId, request.Width, request.Height, request.Seed);

        var (latentHeight, latentWidth) = LatentSize(model, request.Width, request.Height);
        var steps = model.Scheduler.NumInferenceSteps;
        var embeds = model.EncodePrompts(request.Prompt, request.NegativePrompt, cancellationToken);
        var noise = LatentNoise.Gaussian(request.Seed, model.Scheduler.LatentChannels * latentHeight * latentWidth);
        var latent = await model.SampleAsync(noise, latentHeight, latentWidth, embeds, adapter,
            step => onStep(step, steps, cancellationToken), cancellationToken);
        var rgba = model.DecodeRgba(latent, latentHeight, latentWidth, cancellationToken);
        var png = PngEncoding.Encode(rgba, request.Width, request.Height);

        GenerationTelemetry.Record(activity, "image", model.Id, stopwatch.Elapsed, png.Length);
        log?.LogInformation("Generated a {Width}x{Height} image with {Model} (LoRA {Lora}, {Steps} steps, {Provider}) in {ElapsedMs} ms",
            request.Width, request.Height, model.Id, request.LoraId ?? "none", steps, model.ExecutionProvider, stopwatch.ElapsedMilliseconds);
        return new GeneratedMedia(png, PngEncoding.ContentType, request.Width, request.Height);
    }

    public async Task<GeneratedMedia> GenerateVideoAsync(VideoGenerationRequest request, GenerationStep onStep, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(request.Frames);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(request.FramesPerSecond);
        var stopwatch = Stopwatch.StartNew();
        var (model, adapter) = await PrepareAsync(request.Model, request.LoraId, request.Width, request.Height, cancellationToken);
        using var activity = GenerationTelemetry.Start("generation.video", model, request.LoraId, request.Width, request.Height, request.Seed);
        activity?.SetTag("aurous.video.frames", request.Frames);

        var (latentHeight, latentWidth) = LatentSize(model, request.Width, request.Height);
        var steps = model.Scheduler.NumInferenceSteps;
        var totalSteps = steps * request.Frames;
        var embeds = model.EncodePrompts(request.Prompt, request.NegativePrompt, cancellationToken);
        var count = model.Scheduler.LatentChannels * latentHeight * latentWidth;
        var from = LatentNoise.Gaussian(request.Seed, count);
        var to = LatentNoise.Gaussian(unchecked(request.Seed + 1), count);

        await using var encoder = Mp4Encoder.Start(media, request.Width, request.Height, request.FramesPerSecond, options.VideoCrf);
        for (var frame = 0; frame < request.Frames; frame++)
        {
            var angle = request.Frames == 1 ? 0 : Math.PI / 2 * frame / (request.Frames - 1);
            var noise = LatentNoise.Circle(from, to, angle);
            var done = frame * steps;
            var latent = await model.SampleAsync(noise, latentHeight, latentWidth, embeds, adapter,
                step => onStep(done + step, totalSteps, cancellationToken), cancellationToken);
            await encoder.WriteFrameAsync(model.DecodeRgba(latent, latentHeight, latentWidth, cancellationToken), cancellationToken);
        }
        var mp4 = await encoder.FinishAsync(cancellationToken);

        GenerationTelemetry.Record(activity, "video", model.Id, stopwatch.Elapsed, mp4.Length);
        log?.LogInformation("Generated a {Width}x{Height} video of {Frames} frames with {Model} (LoRA {Lora}, {Provider}) in {ElapsedMs} ms",
            request.Width, request.Height, request.Frames, model.Id, request.LoraId ?? "none", model.ExecutionProvider, stopwatch.ElapsedMilliseconds);
        return new GeneratedMedia(mp4, Mp4Encoder.ContentType, request.Width, request.Height);
    }

    private async Task<(DiffusionModel Model, OrtLoraAdapter? Adapter)> PrepareAsync(string modelName, string? loraId, int width, int height,
        CancellationToken cancellationToken)
    {
        var model = await models.ModelAsync(modelName, cancellationToken);
        if (width <= 0 || height <= 0 || width % model.SizeMultiple != 0 || height % model.SizeMultiple != 0)
        {
            throw new ArgumentException($"model '{model.Id}' makes sizes whose sides are positive multiples of {model.SizeMultiple}, not {width} x {height}");
        }
        if (loraId is null)
        {
            return (model, null);
        }
        var loras = await models.LorasAsync(cancellationToken);
        if (!loras.TryGet(loraId, out var lora))
        {
            throw new ArgumentException($"there is no LoRA '{loraId}'");
        }
        if (lora.Manifest.BaseModel != model.Id)
        {
            throw new ArgumentException($"LoRA '{loraId}' is made for '{lora.Manifest.BaseModel}', not '{model.Id}'");
        }
        if (!File.Exists(lora.AdapterPath))
        {
            throw new FileNotFoundException($"the adapter file of LoRA '{loraId}' is missing: {lora.AdapterPath}", lora.AdapterPath);
        }
        return (model, model.Adapter(lora.AdapterPath));
    }

    private static (int Height, int Width) LatentSize(DiffusionModel model, int width, int height) =>
        (height / model.Scheduler.VaeScaleFactor, width / model.Scheduler.VaeScaleFactor);
}
