namespace Aurous.InferenceWorker.Chat;

/// <summary>
/// Admission by memory: each generation reserves its peak (<see cref="ChatMemoryPlan.RequestBytes"/>) before it runs
/// and returns it when it ends, so everything in flight together stays within the budget. Requests that do not fit
/// now wait in arrival order (first in, first out: a long request is not overtaken for ever by short ones); a request
/// larger than the whole budget is never passed in (the engine refuses it with <c>context_length_exceeded</c>).
/// </summary>
public sealed class MemoryAdmission(long capacityBytes)
{
    private readonly Lock _gate = new();
    private readonly LinkedList<Waiter> _waiting = new();
    private long _reserved;

    public long CapacityBytes { get; } = capacityBytes > 0 ? capacityBytes : throw new ArgumentOutOfRangeException(nameof(capacityBytes));

    /// <summary>Bytes reserved by the generations admitted now.</summary>
    public long ReservedBytes
    {
        get
        {
            lock (_gate)
            {
                return _reserved;
            }
        }
    }

    /// <summary>Requests waiting for memory now.</summary>
    public int Waiting
    {
        get
        {
            lock (_gate)
            {
                return _waiting.Count;
            }
        }
    }

    /// <summary>Waits until <paramref name="bytes"/> fit (after everyone who asked first); dispose the result to give them back.</summary>
    public async ValueTask<IDisposable> ReserveAsync(long bytes, CancellationToken cancellationToken)
    {
        if (bytes <= 0 || bytes > CapacityBytes)
        {
            throw new ArgumentOutOfRangeException(nameof(bytes), bytes, $"a reservation must be 1 to {CapacityBytes} bytes");
        }
        Waiter waiter;
        lock (_gate)
        {
            if (_waiting.Count == 0 && _reserved + bytes <= CapacityBytes)
            {
                _reserved += bytes;
                return new Reservation(this, bytes);
            }
            waiter = new Waiter(bytes);
            waiter.Node = _waiting.AddLast(waiter);
        }
        await using (cancellationToken.Register(() => Abandon(waiter, cancellationToken)))
        {
            await waiter.Granted.Task;
        }
        return new Reservation(this, bytes);
    }

    private void Abandon(Waiter waiter, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (waiter.Node?.List is null)
            {
                return; // granted already: the caller gets the reservation and gives it back
            }
            _waiting.Remove(waiter.Node);
            waiter.Node = null;
            GrantWaiters(); // the head may have been the one blocking the others
        }
        waiter.Granted.TrySetCanceled(cancellationToken);
    }

    private void Release(long bytes)
    {
        lock (_gate)
        {
            _reserved -= bytes;
            GrantWaiters();
        }
    }

    /// <summary>Admits waiters from the head while they fit (under the lock).</summary>
    private void GrantWaiters()
    {
        while (_waiting.First is { } first && _reserved + first.Value.Bytes <= CapacityBytes)
        {
            _waiting.RemoveFirst();
            first.Value.Node = null;
            _reserved += first.Value.Bytes;
            first.Value.Granted.TrySetResult();
        }
    }

    private sealed class Waiter(long bytes)
    {
        public long Bytes { get; } = bytes;
        public TaskCompletionSource Granted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public LinkedListNode<Waiter>? Node { get; set; }
    }

    private sealed class Reservation(MemoryAdmission owner, long bytes) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                owner.Release(bytes);
            }
        }
    }
}
