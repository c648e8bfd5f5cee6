using Microsoft.ML.OnnxRuntime;

namespace Aurous.InferenceWorker.Tests;

/// <summary>
/// Whether ONNX Runtime's CUDA provider initialises on this machine, asked the way the worker asks it when it chooses
/// its provider (append it to session options for device 0).
/// </summary>
internal static class CudaMachine
{
    private static readonly Lazy<bool> Usable = new(() =>
    {
        if (!OrtEnv.Instance().GetAvailableProviders().Contains("CUDAExecutionProvider"))
        {
            return false;
        }
        try
        {
            using var probe = new SessionOptions();
            probe.AppendExecutionProvider_CUDA(0);
            return true;
        }
        catch (Exception ex) when (ex is OnnxRuntimeException or EntryPointNotFoundException or DllNotFoundException)
        {
            return false;
        }
    });

    public static bool IsUsable => Usable.Value;
}

/// <summary>A test of what the worker does where CUDA is usable; skipped, and says so, elsewhere.</summary>
public sealed class CudaFactAttribute : FactAttribute
{
    public CudaFactAttribute()
    {
        if (!CudaMachine.IsUsable)
        {
            Skip = "Needs a machine where ONNX Runtime's CUDA provider initialises (an NVIDIA GPU with CUDA 13 and cuDNN).";
        }
    }
}

/// <summary>A test of what the worker does where CUDA is not usable; skipped, and says so, on a CUDA machine.</summary>
public sealed class NoCudaFactAttribute : FactAttribute
{
    public NoCudaFactAttribute()
    {
        if (CudaMachine.IsUsable)
        {
            Skip = "Needs a machine without a usable CUDA provider: here demanding CUDA succeeds (see the CUDA test).";
        }
    }
}
