using System.Diagnostics;
using System.Diagnostics.Metrics;
using Aurous.Jobs;

namespace Aurous.InferenceWorker.Jobs;

/// <summary>
/// The job runner's spans and metrics (exported by ServiceDefaults, which listens to every "Aurous.*" source). A job's
/// span continues the trace of the request that created it: the API stores the request's traceparent with the job, and
/// the runner's span takes it as its parent, so one trace runs API -> enqueue -> runner -> generator -> blob upload ->
/// webhook publish, however long the job waited in the queue.
/// </summary>
public static class JobTelemetry
{
    public const string Name = "Aurous.InferenceWorker.Jobs";

    public static readonly ActivitySource ActivitySource = new(Name);
    public static readonly Meter Meter = new(Name);

    public static readonly Histogram<double> QueueWait = Meter.CreateHistogram<double>(
        "aurous.jobs.queue_wait", unit: "s", description: "From a job's creation to its first run starting.");

    public static readonly Histogram<double> GenerationTime = Meter.CreateHistogram<double>(
        "aurous.jobs.generation_time", unit: "s", description: "From a run's first generation step to its last output stored.");

    public static readonly Counter<long> Images = Meter.CreateCounter<long>(
        "aurous.jobs.images", unit: "{image}", description: "Images generated and stored (its rate per minute is the runner's throughput).");

    public static readonly Counter<long> Videos = Meter.CreateCounter<long>(
        "aurous.jobs.videos", unit: "{video}", description: "Videos generated and stored.");

    public static readonly Counter<long> Completed = Meter.CreateCounter<long>(
        "aurous.jobs.completed", unit: "{job}", description: "Jobs that reached a terminal status, by status.");

    public static readonly UpDownCounter<int> Running = Meter.CreateUpDownCounter<int>(
        "aurous.jobs.running", unit: "{job}", description: "Generation jobs running now.");

    /// <summary>The span of one run of a job, child of the request that created it (when its traceparent was stored).</summary>
    public static Activity? StartRun(JobRow job)
    {
        ActivityContext.TryParse(job.TraceParent, null, isRemote: true, out var parent);
        var activity = ActivitySource.StartActivity("generation job", ActivityKind.Consumer, parent);
        activity?.SetTag("aurous.job.id", job.Id);
        activity?.SetTag("aurous.job.kind", Kind(job.Kind));
        activity?.SetTag("aurous.job.model", job.Model);
        activity?.SetTag("aurous.job.attempt", job.Attempts);
        return activity;
    }

    public static Activity? StartStep(string name) => ActivitySource.StartActivity(name);

    public static string Kind(JobKind kind) => kind == JobKind.Image ? "image" : "video";

    public static void RecordCompleted(JobKind kind, string status) =>
        Completed.Add(1, new KeyValuePair<string, object?>("kind", Kind(kind)), new KeyValuePair<string, object?>("status", status));
}
