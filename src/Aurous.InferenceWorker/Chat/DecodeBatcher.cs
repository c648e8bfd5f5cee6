using System.Diagnostics;

namespace Aurous.InferenceWorker.Chat;

/// <summary>
/// Step-level (continuous) batching of one chat model's decode: every generation past its prefill is a member, and
/// each of its decode steps (one token against its own cache) is queued here. A dedicated thread runs the queued
/// steps of up to <c>Inference:MaxDecodeBatch</c> members as ONE decoder run (<see cref="ChatModel.ForwardStep"/>)
/// and hands each its logits; the members sample, stream and queue their next step, and the next run starts as soon
/// as every member of the last run has queued its next one or left (or <c>Inference:DecodeBatchWaitMs</c> after the
/// first queued, so a member held up by its client does not hold up the rest: it joins a later run when it is ready).
/// From <see cref="HalvesFrom"/> members on, a run takes about half of them and the two halves alternate: one half's
/// run computes while the other half samples, streams and queues its next step. A new generation prefills alone, off this thread, and joins between two runs;
/// a finished or cancelled one leaves between two runs. A run pads every cache to the longest, so its batch x longest
/// stays within <c>Inference:MaxDecodeBatchTokens</c>: a much longer generation steps alone. Sampling, constraints and stop strings stay per generation.
/// </summary>
public sealed class DecodeBatcher : IDisposable
{
    /// <summary>From this many members on, a run takes about half of them (see <see cref="Next"/>).</summary>
    internal const int HalvesFrom = 8;

    private readonly ChatModel _model;
    private readonly int _maxBatch;
    private readonly int _maxTokens;
    private readonly long _waitTicks;
    private readonly object _gate = new();
    private readonly List<Step> _queued = [];
    /// <summary>Members of the last run that have neither queued their next step nor left: the next run waits for them.</summary>
    private readonly HashSet<DecoderState> _awaited = new(ReferenceEqualityComparer.Instance);
    private readonly Thread _thread;
    private readonly CancellationTokenSource _stopping = new();
    private int _members;
    private bool _disposed;
    private long _runs;
    private long _steps;

    public DecodeBatcher(ChatModel model, int maxBatch, double waitMs, int maxTokens = int.MaxValue)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBatch, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(waitMs);
        _model = model;
        _maxBatch = maxBatch;
        _maxTokens = maxTokens;
        _waitTicks = (long)(waitMs * Stopwatch.Frequency / 1000);
        _thread = new Thread(Loop) { IsBackground = true, Name = "aurous-decode-batcher" };
        _thread.Start();
    }

    /// <summary>Generations decoding through this batcher now.</summary>
    public int Members => Volatile.Read(ref _members);
    /// <summary>Decoder runs so far (test hook and telemetry).</summary>
    public long Runs => Interlocked.Read(ref _runs);
    /// <summary>Decode steps so far, over all runs: <see cref="Steps"/> / <see cref="Runs"/> is the mean batch.</summary>
    public long Steps => Interlocked.Read(ref _steps);

    /// <summary>Makes the generation decoding <paramref name="state"/> a member until the returned handle is disposed:
    /// after each run it took part in, the next run waits (briefly) for its next step.</summary>
    public IDisposable Join(DecoderState state)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _members++;
        }
        return new Membership(this, state);
    }

    /// <summary>
    /// Feeds <paramref name="token"/> to <paramref name="state"/> in the next batched run and returns the logits of
    /// its position. Cancelled while still queued, it leaves the queue and throws; once in a run it completes (one
    /// step), so the state is never changed by a run the caller stopped waiting for.
    /// </summary>
    public Task<float[]> StepAsync(DecoderState state, long token, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var step = new Step(state, token);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _queued.Add(step);
            _awaited.Remove(state);
            Monitor.PulseAll(_gate);
        }
        if (cancellationToken.CanBeCanceled)
        {
            step.Registration = cancellationToken.Register(() =>
            {
                lock (_gate)
                {
                    if (!_queued.Remove(step))
                    {
                        return; // already in a run
                    }
                }
                step.Done.TrySetCanceled(cancellationToken);
            });
        }
        return step.Done.Task;
    }

    private void Leave(DecoderState state)
    {
        lock (_gate)
        {
            _members--;
            _awaited.Remove(state);
            Monitor.PulseAll(_gate);
        }
    }

    private void Loop()
    {
        while (Next() is { } batch)
        {
            try
            {
                var states = new DecoderState[batch.Count];
                var tokens = new long[batch.Count];
                for (var i = 0; i < batch.Count; i++)
                {
                    states[i] = batch[i].State;
                    tokens[i] = batch[i].Token;
                }
                using (var activity = WorkerTelemetry.ActivitySource.StartActivity("chat.decode_step"))
                {
                    activity?.SetTag("aurous.chat.decode_batch", batch.Count);
                    var logits = _model.ForwardStep(states, tokens, _stopping.Token);
                    Interlocked.Increment(ref _runs);
                    Interlocked.Add(ref _steps, batch.Count);
                    WorkerTelemetry.ChatDecodeBatch.Record(batch.Count);
                    lock (_gate)
                    {
                        // Before the results go out: a member may queue its next step at once.
                        foreach (var state in states)
                        {
                            _awaited.Add(state);
                        }
                    }
                    for (var i = 0; i < batch.Count; i++)
                    {
                        batch[i].Done.TrySetResult(logits[i]);
                    }
                }
            }
            catch (Exception ex)
            {
                foreach (var step in batch)
                {
                    step.Done.TrySetException(ex);
                }
            }
            foreach (var step in batch)
            {
                step.Registration.Dispose();
            }
        }
    }

    /// <summary>Waits for queued steps, then for the rest of the members' (bounded by the wait); null once disposed.</summary>
    private List<Step>? Next()
    {
        lock (_gate)
        {
            while (_queued.Count == 0 && !_disposed)
            {
                if (_members == 0)
                {
                    // Nobody decodes in a batch now: the memory the steps kept goes back until the next one.
                    _model.ReleaseStepBuffers();
                }
                Monitor.Wait(_gate);
            }
            if (_disposed)
            {
                return null;
            }
            // Many members decode as two halves that alternate: while one half's run computes, the other half samples,
            // streams and queues its next step, so neither the run nor the sampling waits for the other.
            var cap = RunCap(_members, _maxBatch);
            var deadline = Stopwatch.GetTimestamp() + _waitTicks;
            while (!_disposed && _awaited.Count > 0 && _queued.Count < cap)
            {
                var left = deadline - Stopwatch.GetTimestamp();
                if (left <= 0)
                {
                    break;
                }
                Monitor.Wait(_gate, TimeSpan.FromTicks(Math.Max(TimeSpan.TicksPerMillisecond, left * TimeSpan.TicksPerSecond / Stopwatch.Frequency)));
            }
            _awaited.Clear(); // whoever is late joins a later run
            // First come, first in; a step whose cache would pad the run past the token cap waits for a later run (at
            // the head of the queue, so it goes first then, alone if need be).
            var batch = new List<Step>(Math.Min(_queued.Count, _maxBatch));
            var longest = 0;
            for (var i = 0; i < _queued.Count && batch.Count < cap; i++)
            {
                var padded = Math.Max(longest, _queued[i].State.Length + 1);
                if (batch.Count > 0 && (long)padded * (batch.Count + 1) > _maxTokens)
                {
                    continue;
                }
                longest = padded;
                batch.Add(_queued[i]);
                _queued.RemoveAt(i--);
            }
            return batch;
        }
    }

    /// <summary>The most steps one run takes when <paramref name="members"/> generations decode here: all of them (up to
    /// <paramref name="maxBatch"/>), or from <see cref="HalvesFrom"/> members on about half of them.</summary>
    internal static int RunCap(int members, int maxBatch) => members >= HalvesFrom ? Math.Min(maxBatch, (members + 1) / 2) : maxBatch;

    public void Dispose()
    {
        List<Step> abandoned;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            abandoned = [.. _queued];
            _queued.Clear();
            Monitor.PulseAll(_gate);
        }
        _stopping.Cancel();
        foreach (var step in abandoned)
        {
            step.Done.TrySetException(new ObjectDisposedException(nameof(DecodeBatcher)));
        }
        _thread.Join();
        _stopping.Dispose();
    }

    private sealed class Step(DecoderState state, long token)
    {
        public DecoderState State { get; } = state;
        public long Token { get; } = token;
        public TaskCompletionSource<float[]> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public CancellationTokenRegistration Registration { get; set; }
    }

    private sealed class Membership(DecodeBatcher batcher, DecoderState state) : IDisposable
    {
        private int _left;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _left, 1) == 0)
            {
                batcher.Leave(state);
            }
        }
    }
}
