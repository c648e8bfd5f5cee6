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

    public static readonly Histogram<int> BatchSize = Meter.CreateHistogram<int>(
        "aurous.inference.batch_size", unit: "{item}", description: "Items (text sequences or image frames) per ONNX Runtime run.",
        advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = [1, 2, 4, 8, 16, 32, 64, 128] });

    public static readonly UpDownCounter<int> QueueDepth = Meter.CreateUpDownCounter<int>(
        "aurous.inference.queue_depth", unit: "{item}", description: "Items waiting for a batch.");

    public static readonly Histogram<double> QueueWait = Meter.CreateHistogram<double>(
        "aurous.inference.queue_wait", unit: "ms", description: "Time an item waited before its batch started.");

    public static readonly Histogram<double> BatchDuration = Meter.CreateHistogram<double>(
        "aurous.inference.batch.duration", unit: "ms", description: "Time of one batched ONNX Runtime run.");

    public static readonly Counter<long> EmbeddingTokens = Meter.CreateCounter<long>(
        "aurous.inference.embedding.tokens", unit: "{token}", description: "Tokens embedded, by modality (text, visual, video).");
}
