using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Aurous.InferenceWorker.Generation;

/// <summary>Spans (on the worker's ActivitySource, inside the job's trace) and metrics of the image and video generators.</summary>
internal static class GenerationTelemetry
{
    public static readonly Meter Meter = new("Aurous.InferenceWorker.Generation");

    public static readonly Histogram<double> Duration = Meter.CreateHistogram<double>(
        "aurous.generation.duration", unit: "ms", description: "Time to generate one image or video, encoding included.");

    public static readonly Histogram<long> OutputBytes = Meter.CreateHistogram<long>(
        "aurous.generation.output_bytes", unit: "By", description: "Size of one encoded output (PNG or MP4).");

    public static Activity? Start(string name, DiffusionModel model, string? loraId, int width, int height, long seed)
    {
        var activity = WorkerTelemetry.ActivitySource.StartActivity(name);
        activity?.SetTag("aurous.model.id", model.Id);
        activity?.SetTag("aurous.lora.id", loraId);
        activity?.SetTag("aurous.size", $"{width}x{height}");
        activity?.SetTag("aurous.seed", seed);
        activity?.SetTag("aurous.steps", model.Scheduler.NumInferenceSteps);
        activity?.SetTag("aurous.execution_provider", model.ExecutionProvider);
        return activity;
    }

    public static void Record(Activity? activity, string kind, string modelId, TimeSpan elapsed, long bytes)
    {
        activity?.SetTag("aurous.output.bytes", bytes);
        var tags = new TagList { { "aurous.model.id", modelId }, { "aurous.generation.kind", kind } };
        Duration.Record(elapsed.TotalMilliseconds, tags);
        OutputBytes.Record(bytes, tags);
    }
}
