using System.Globalization;
using Microsoft.ML.OnnxRuntime;
using SessionOptions = Microsoft.ML.OnnxRuntime.SessionOptions;

namespace Aurous.InferenceWorker.Models;

/// <summary>How a session's memory arenas treat what its runs allocate.</summary>
internal enum ArenaUse
{
    /// <summary>ONNX Runtime's defaults: the arenas keep their peak for later runs (fixed-size work: encoders).</summary>
    Keep,
    /// <summary>
    /// Work whose size varies by orders of magnitude (a chat decoder: a long prefill, then small steps): no CPU arena,
    /// so each tensor is allocated and freed on its own and a long prompt's memory goes back to the system when it
    /// ends; on CUDA the arena grows by what is requested (not to the next power of two) and prefill runs shrink it.
    /// </summary>
    GiveBack,
}

/// <summary>Creates the model host's ONNX Runtime sessions with the worker's threading and provider settings.</summary>
internal sealed class ModelSessions(InferenceOptions options, ILogger log)
{
    /// <summary>Creates a session on <paramref name="provider"/>; under <c>auto</c>, a CUDA failure falls back to CPU (and says so).</summary>
    public InferenceSession CreateOrFallBack(string path, string modelId, ref string provider, ArenaUse arena = ArenaUse.Keep)
    {
        try
        {
            return Create(path, modelId, provider, arena);
        }
        catch (OnnxRuntimeException ex) when (provider == ModelHost.CudaProvider && options.ExecutionProvider == RequestedProvider.Auto)
        {
            log.LogWarning("Model {ModelId} failed to load on CUDA ({Reason}); falling back to CPU", modelId, ModelLoad.FirstLine(ex.Message));
            provider = ModelHost.CpuProvider;
            return Create(path, modelId, provider, arena);
        }
    }

    /// <summary>Creates a session; <paramref name="intraOpThreads"/>: its threads per run, if not <c>Inference:IntraOpThreads</c>.</summary>
    public InferenceSession Create(string path, string modelId, string provider, ArenaUse arena = ArenaUse.Keep, int? intraOpThreads = null)
    {
        using var session = new SessionOptions
        {
            LogId = modelId,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            IntraOpNumThreads = intraOpThreads ?? options.IntraOpThreads,
            EnableCpuMemArena = arena == ArenaUse.Keep,
        };
        session.AddSessionConfigEntry("session.intra_op.allow_spinning", options.AllowSpinning ? "1" : "0");
        session.AddSessionConfigEntry("session.inter_op.allow_spinning", options.AllowSpinning ? "1" : "0");
        if (provider == ModelHost.CudaProvider)
        {
            using var cuda = new OrtCUDAProviderOptions();
            var settings = new Dictionary<string, string> { ["device_id"] = options.CudaDeviceId.ToString(CultureInfo.InvariantCulture) };
            if (arena == ArenaUse.GiveBack)
            {
                settings["arena_extend_strategy"] = "kSameAsRequested";
            }
            cuda.UpdateOptions(settings);
            session.AppendExecutionProvider_CUDA(cuda);
        }
        return new InferenceSession(path, session);
    }
}
