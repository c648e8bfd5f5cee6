using System.Diagnostics;
using System.Threading.Channels;

namespace Aurous.InferenceWorker.Batching;

/// <summary>The result of one item and the batch it ran in.</summary>
public readonly record struct BatchResult<T>(T Value, int BatchSize, double QueueMs);

/// <summary>
/// Dynamic batching: items from concurrent callers queue up; one loop takes the first waiting item, gathers more until the
/// batch holds <c>maxBatchSize</c> items or <c>maxWait</c> has passed since it took the first, and runs them all in one
/// call (one ONNX Runtime run). Items queued while a batch runs are taken at once by the next batch, so under load batches
/// fill without waiting and an idle batcher adds at most <c>maxWait</c> of latency.
/// <para>
/// Metrics (Meter "Aurous.InferenceWorker"): <c>aurous.inference.batch_size</c>, <c>aurous.inference.queue_depth</c>,
/// <c>aurous.inference.queue_wait</c>, <c>aurous.inference.batch.duration</c>, tagged with the model and encoder; one
/// <c>inference.batch</c> span per run with links to the spans of the requests it served.
/// </para>
/// </summary>
public sealed class DynamicBatcher<TIn, TOut> : IAsyncDisposable
{
    private readonly Channel<WorkItem> _queue = Channel.CreateUnbounded<WorkItem>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Func<IReadOnlyList<TIn>, IReadOnlyList<TOut>> _run;
    private readonly KeyValuePair<string, object?>[] _tags;
    private readonly string _encoder;
    private readonly Task _loop;

    public DynamicBatcher(string modelId, string encoder, int maxBatchSize, TimeSpan maxWait, Func<IReadOnlyList<TIn>, IReadOnlyList<TOut>> run)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxBatchSize);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxWait, TimeSpan.Zero);
        MaxBatchSize = maxBatchSize;
        MaxWait = maxWait;
        _run = run;
        _encoder = encoder;
        _tags = [new("aurous.model.id", modelId), new("aurous.encoder", encoder)];
        _loop = Task.Factory.StartNew(RunLoopAsync, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
    }

    public int MaxBatchSize { get; }
    public TimeSpan MaxWait { get; }

    /// <summary>Items waiting for a batch.</summary>
    public int QueueDepth => _queue.Reader.Count;

    /// <summary>Queues one item; completes when its batch has run (faults with the batch's exception if the run failed).</summary>
    public Task<BatchResult<TOut>> RunAsync(TIn input, CancellationToken cancellationToken = default)
    {
        var item = new WorkItem(input, Activity.Current?.Context ?? default, Stopwatch.GetTimestamp());
        if (cancellationToken.CanBeCanceled)
        {
            item.Registration = cancellationToken.Register(static state =>
            {
                var (work, token) = ((WorkItem, CancellationToken))state!;
                work.Completion.TrySetCanceled(token);
            }, (item, cancellationToken));
        }
        if (!_queue.Writer.TryWrite(item))
        {
            throw new ObjectDisposedException(nameof(DynamicBatcher<TIn, TOut>));
        }
        WorkerTelemetry.QueueDepth.Add(1, _tags);
        return item.Completion.Task;
    }

    private async Task RunLoopAsync()
    {
        var reader = _queue.Reader;
        var batch = new List<WorkItem>(MaxBatchSize);
        Task<bool>? pendingWait = null;
        while (true)
        {
            var more = pendingWait ?? reader.WaitToReadAsync().AsTask();
            pendingWait = null;
            if (!await more.ConfigureAwait(false))
            {
                return;
            }
            batch.Clear();
            Take(reader, batch);
            if (batch.Count == 0)
            {
                continue;
            }
            var deadline = Stopwatch.GetTimestamp() + (long)(MaxWait.TotalSeconds * Stopwatch.Frequency);
            while (batch.Count < MaxBatchSize)
            {
                Take(reader, batch);
                if (batch.Count >= MaxBatchSize)
                {
                    break;
                }
                var remaining = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline);
                if (remaining <= TimeSpan.Zero)
                {
                    break;
                }
                var wait = reader.WaitToReadAsync().AsTask();
                if (await Task.WhenAny(wait, Task.Delay(remaining)).ConfigureAwait(false) != wait)
                {
                    pendingWait = wait; // still registered: reuse it rather than stacking waiters
                    break;
                }
                if (!wait.Result)
                {
                    break;
                }
            }
            Execute(batch);
        }
    }

    private void Take(ChannelReader<WorkItem> reader, List<WorkItem> batch)
    {
        while (batch.Count < MaxBatchSize && reader.TryRead(out var item))
        {
            WorkerTelemetry.QueueDepth.Add(-1, _tags);
            item.Registration.Dispose();
            if (!item.Completion.Task.IsCompleted) // cancelled while queued: drop it
            {
                batch.Add(item);
            }
        }
    }

    private void Execute(List<WorkItem> batch)
    {
        var started = Stopwatch.GetTimestamp();
        var links = batch.Where(i => i.Parent != default).Select(i => new ActivityLink(i.Parent)).ToArray();
        using var activity = WorkerTelemetry.ActivitySource.StartActivity("inference.batch", ActivityKind.Internal, parentContext: default, links: links);
        activity?.SetTag("aurous.model.id", _tags[0].Value);
        activity?.SetTag("aurous.encoder", _encoder);
        activity?.SetTag("aurous.batch.size", batch.Count);
        activity?.SetTag("aurous.batch.max_size", MaxBatchSize);
        WorkerTelemetry.BatchSize.Record(batch.Count, _tags);
        foreach (var item in batch)
        {
            WorkerTelemetry.QueueWait.Record(Stopwatch.GetElapsedTime(item.Enqueued, started).TotalMilliseconds, _tags);
        }
        try
        {
            var outputs = _run(batch.Select(i => i.Input).ToArray());
            if (outputs.Count != batch.Count)
            {
                throw new InvalidOperationException($"the batch function returned {outputs.Count} results for {batch.Count} inputs");
            }
            for (var i = 0; i < batch.Count; i++)
            {
                var queueMs = Stopwatch.GetElapsedTime(batch[i].Enqueued, started).TotalMilliseconds;
                batch[i].Completion.TrySetResult(new BatchResult<TOut>(outputs[i], batch.Count, queueMs));
            }
        }
        catch (Exception ex)
        {
            activity?.SetStatus(ActivityStatusCode.Error, ex.Message);
            foreach (var item in batch)
            {
                item.Completion.TrySetException(ex);
            }
        }
        finally
        {
            WorkerTelemetry.BatchDuration.Record(Stopwatch.GetElapsedTime(started).TotalMilliseconds, _tags);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _loop.ConfigureAwait(false);
    }

    private sealed class WorkItem(TIn input, ActivityContext parent, long enqueued)
    {
        public TIn Input { get; } = input;
        public ActivityContext Parent { get; } = parent;
        public long Enqueued { get; } = enqueued;
        public TaskCompletionSource<BatchResult<TOut>> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public CancellationTokenRegistration Registration { get; set; }
    }
}
