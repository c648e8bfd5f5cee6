using Microsoft.Extensions.Configuration;

namespace Aurous.InferenceWorker;

/// <summary>Which ONNX Runtime execution provider the operator asked for (<c>Inference:ExecutionProvider</c>).</summary>
public enum RequestedProvider
{
    /// <summary>CUDA when this ONNX Runtime build and the machine have it, CPU otherwise.</summary>
    Auto,
    Cpu,
    /// <summary>CUDA or nothing: the worker reports itself unhealthy rather than silently running on CPU.</summary>
    Cuda,
}

/// <summary>The worker's settings, read from configuration (environment: <c>Models__Path</c>, <c>Inference__ExecutionProvider</c>...).</summary>
public sealed record InferenceOptions
{
    /// <summary>The models folder; null or empty: the repository's <c>models/</c> found above the working directory.</summary>
    public string? ModelsPath { get; init; }
    /// <summary>Generate missing files of models whose manifest names a ModelForge generator (off by default: production must never serve generated weights by accident; the AppHost turns it on for a local run).</summary>
    public bool GenerateMissingModels { get; init; }
    public RequestedProvider ExecutionProvider { get; init; } = RequestedProvider.Auto;
    public int CudaDeviceId { get; init; }

    public static InferenceOptions FromConfiguration(IConfiguration configuration)
    {
        var provider = configuration["Inference:ExecutionProvider"];
        return new InferenceOptions
        {
            ModelsPath = configuration["Models:Path"],
            GenerateMissingModels = configuration.GetValue("Models:Generate", false),
            ExecutionProvider = ParseProvider(provider),
            CudaDeviceId = configuration.GetValue("Inference:CudaDeviceId", 0),
        };
    }

    public static RequestedProvider ParseProvider(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        null or "" or "auto" => RequestedProvider.Auto,
        "cpu" => RequestedProvider.Cpu,
        "cuda" or "gpu" => RequestedProvider.Cuda,
        _ => throw new InvalidOperationException(
            $"Inference:ExecutionProvider must be 'auto', 'cpu' or 'cuda', not '{value}'."),
    };
}
