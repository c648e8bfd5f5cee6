namespace Aurous.InferenceWorker.Generation;

/// <summary>One image to make. <paramref name="LoraId"/> is the adapter to apply (null: the base model alone).</summary>
public sealed record ImageGenerationRequest(
    string Model, string Prompt, string? NegativePrompt, int Width, int Height, long Seed, string? LoraId);

/// <summary>One video to make: <paramref name="Frames"/> frames at <paramref name="FramesPerSecond"/>.</summary>
public sealed record VideoGenerationRequest(
    string Model, string Prompt, string? NegativePrompt, int Width, int Height, long Seed, string? LoraId, int Frames, int FramesPerSecond);

/// <summary>An encoded output: PNG for images, MP4 (H.264) for videos.</summary>
public sealed record GeneratedMedia(byte[] Bytes, string ContentType, int Width, int Height);

/// <summary>
/// Called after every denoising step (and, for video, every frame); the runner checks for a cancel here, so a
/// cancelled job stops within one step. Throwing <see cref="OperationCanceledException"/> from it stops the run.
/// </summary>
public delegate ValueTask GenerationStep(int step, int totalSteps, CancellationToken cancellationToken);

/// <summary>
/// The image and video generator: an ONNX model from the models folder with LoRA adapters applied at run time
/// through ONNX Runtime's adapter API. The same request (seed, adapter, prompt, size) gives the same bytes.
/// </summary>
public interface IMediaGenerator
{
    Task<GeneratedMedia> GenerateImageAsync(ImageGenerationRequest request, GenerationStep onStep, CancellationToken cancellationToken);

    Task<GeneratedMedia> GenerateVideoAsync(VideoGenerationRequest request, GenerationStep onStep, CancellationToken cancellationToken);
}

/// <summary>Picks a LoRA for a prompt when the client named none (see docs/images.md for how).</summary>
public interface ILoraDispatcher
{
    /// <returns>The chosen LoRA's id, or null when the base model has no LoRAs.</returns>
    Task<string?> PickAsync(string baseModel, string prompt, CancellationToken cancellationToken);
}
