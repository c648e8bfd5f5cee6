using Aurous.InferenceWorker.Models;
using Microsoft.ML.OnnxRuntime;
using SessionOptions = Microsoft.ML.OnnxRuntime.SessionOptions;

namespace Aurous.InferenceWorker.Generation;

/// <summary>
/// Creates the generators' ONNX Runtime sessions on one execution provider (the one the worker's model host chose:
/// CUDA when present, else CPU). Unlike the encoders, a generation is one long run rather than many small batched ones,
/// so its sessions use <see cref="GenerationOptions.IntraOpThreads"/> (every core by default).
/// </summary>
/// <param name="fallBackToCpu">Under <c>Inference:ExecutionProvider=auto</c>: a model whose session CUDA cannot create runs on CPU.</param>
public sealed class GenerationSessions(string executionProvider, GenerationOptions options, int cudaDeviceId = 0, bool fallBackToCpu = false)
{
    public string ExecutionProvider { get; } = executionProvider;

    /// <summary>A session on <see cref="ExecutionProvider"/> (or CPU, see the constructor); <paramref name="provider"/> says which.</summary>
    public InferenceSession Create(string path, string modelId, out string provider)
    {
        provider = ExecutionProvider;
        try
        {
            return Create(path, modelId, provider);
        }
        catch (OnnxRuntimeException) when (fallBackToCpu && provider == ModelHost.CudaProvider)
        {
            provider = ModelHost.CpuProvider;
            return Create(path, modelId, provider);
        }
    }

    public static GenerationSessions Cpu(GenerationOptions? options = null) => new(ModelHost.CpuProvider, options ?? new GenerationOptions());

    private InferenceSession Create(string path, string modelId, string provider)
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
        if (provider == ModelHost.CudaProvider)
        {
            session.AppendExecutionProvider_CUDA(cudaDeviceId);
        }
        return new InferenceSession(path, session);
    }
}
