using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Aurous.InferenceWorker;

/// <summary>The worker's own spans and metrics (exported by ServiceDefaults, which listens to every "Aurous.*" source).</summary>
public static class WorkerTelemetry
{
    public const string Name = "Aurous.InferenceWorker";

    public static readonly ActivitySource ActivitySource = new(Name);
    public static readonly Meter Meter = new(Name);

    public static readonly Histogram<double> ModelLoadDuration = Meter.CreateHistogram<double>(
        "aurous.inference.model_load.duration", unit: "ms", description: "Time to create an ONNX Runtime session and run its self-test.");
}
