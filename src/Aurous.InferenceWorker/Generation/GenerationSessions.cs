using Aurous.InferenceWorker.Models;
using Microsoft.ML.OnnxRuntime;
using SessionOptions = Microsoft.ML.OnnxRuntime.SessionOptions;

namespace Aurous.InferenceWorker.Generation;

/// <summary>
/// Creates the generators' ONNX Runtime sessions on one execution provider (the one the worker's model host chose:
/// CUDA when present, else CPU). Unlike the encoders, a generation is one long run rather than many small batched ones,
/// so its sessions use <see cref="GenerationOptions.IntraOpThreads"/> (every core by default).
/// </summary>
public sealed class GenerationSessions(string executionProvider, GenerationOptions options, int cudaDeviceId = 0)
{
    public string ExecutionProvider { get; } = executionProvider;

    public static GenerationSessions Cpu(GenerationOptions? options = null) => new(ModelHost.CpuProvider, options ?? new GenerationOptions());

    public InferenceSession Create(string path, string modelId)
    {
        using var session = new SessionOptions
        {
            LogId = modelId,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            IntraOpNumThreads = options.IntraOpThreads,
            // The LoRA inputs are initializers on purpose (zero by default, overridden by adapters); ONNX Runtime warns
            // about every one of them at each load.
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
        };
        session.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        if (ExecutionProvider == ModelHost.CudaProvider)
        {
            session.AppendExecutionProvider_CUDA(cudaDeviceId);
        }
        return new InferenceSession(path, session);
    }
}

/// <summary>Settings of the image and video generators (<c>Generation:*</c>).</summary>
public sealed record GenerationOptions
{
    /// <summary>Threads of one generator run (<c>Generation:IntraOpThreads</c>; 0, the default: one per core).</summary>
    public int IntraOpThreads { get; init; }
    /// <summary>The embedding model whose text tower the LoRA dispatcher compares prompts with (<c>Generation:DispatchEmbeddingModel</c>).</summary>
    public string DispatchEmbeddingModel { get; init; } = "aurous-embed-vision-1.0";
    /// <summary>x264 constant rate factor of generated videos (<c>Generation:VideoCrf</c>; lower is better and larger).</summary>
    public int VideoCrf { get; init; } = 20;

    public static GenerationOptions FromConfiguration(IConfiguration configuration) => new()
    {
        IntraOpThreads = configuration.GetValue("Generation:IntraOpThreads", 0) is var threads && threads >= 0
            ? threads
            : throw new InvalidOperationException("Generation:IntraOpThreads must be 0 or more."),
        DispatchEmbeddingModel = configuration["Generation:DispatchEmbeddingModel"] is { Length: > 0 } model ? model : "aurous-embed-vision-1.0",
        VideoCrf = configuration.GetValue("Generation:VideoCrf", 20) is var crf && crf is >= 0 and <= 51
            ? crf
            : throw new InvalidOperationException("Generation:VideoCrf must be from 0 to 51."),
    };
}
