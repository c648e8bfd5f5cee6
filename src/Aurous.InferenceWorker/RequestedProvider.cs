using System.ComponentModel;
using System.Globalization;

namespace Aurous.InferenceWorker;

/// <summary>Which ONNX Runtime execution provider the operator asked for (<c>Inference:ExecutionProvider</c>).</summary>
[TypeConverter(typeof(RequestedProviderConverter))]
public enum RequestedProvider
{
    /// <summary>CUDA when this ONNX Runtime build and the machine have it, CPU otherwise.</summary>
    Auto,
    Cpu,
    /// <summary>CUDA or nothing: the worker reports itself unhealthy rather than silently running on CPU.</summary>
    Cuda,
}

/// <summary>
/// Reads <c>Inference:ExecutionProvider</c> as operators write it: any case, surrounding blanks, <c>gpu</c> for
/// <c>cuda</c>, and empty for <c>auto</c>.
/// </summary>
public sealed class RequestedProviderConverter : TypeConverter
{
    public override bool CanConvertFrom(ITypeDescriptorContext? context, Type sourceType) =>
        sourceType == typeof(string) || base.CanConvertFrom(context, sourceType);

    public override object? ConvertFrom(ITypeDescriptorContext? context, CultureInfo? culture, object value) =>
        value is string text ? Parse(text) : base.ConvertFrom(context, culture, value);

    public static RequestedProvider Parse(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        null or "" or "auto" => RequestedProvider.Auto,
        "cpu" => RequestedProvider.Cpu,
        "cuda" or "gpu" => RequestedProvider.Cuda,
        _ => throw new InvalidOperationException(
            $"Inference:ExecutionProvider must be 'auto', 'cpu' or 'cuda', not '{value}'."),
    };
}
