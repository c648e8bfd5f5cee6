using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using Aurous.Persistence;

namespace Aurous.Accounts;

/// <summary>Settings of the ledger's group commit (section <c>Ledger</c>, env <c>Ledger__MaxBatchSize</c>...).</summary>
public sealed class CreditCommitOptions
{
    public const string Section = "Ledger";

    /// <summary>The most holds, captures or releases one batch (one transaction) carries.</summary>
    public int MaxBatchSize { get; set; } = 256;
}

/// <summary>
/// Group commit of credit holds, captures and releases for one API instance: everything asked while one cycle is in
/// flight goes into the next, as one transaction and one round trip, so a team's balance row is locked once per cycle
/// instead of once per request, and captures share one WAL flush. The window is natural: while one cycle is in flight
/// the next one accumulates, so a lone request goes at once and nothing ever sleeps. Results are exactly those of the
/// single statements of <see cref="CreditHolds"/>: a hold a cycle refuses is asked again alone (a 402 is never given
/// while the team's credits cover that request), and when a cycle fails (one bad item) each kind is asked again as its
/// own batch, and a batch that fails has its items asked one by one. A cycle with captures commits durably before any
/// caller learns its receipt; one with only holds and releases commits relaxed, as the single statements do. Disposing
/// it drains what was asked; anything asked after that runs as a single statement.
/// </summary>
public sealed class CreditCommitQueue : IAsyncDisposable
{
    private static readonly ActivitySource Activity = new("Aurous.Ledger");

    private readonly NpgsqlDataSource _db;
    private readonly CreditHolds _holds;
    private readonly ILogger _log;
    private readonly int _maxBatch;
    private readonly Channel<Ask> _asks = Channel.CreateUnbounded<Ask>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _loop;

    public CreditCommitQueue(NpgsqlDataSource db, CreditHolds holds, IOptions<CreditCommitOptions> options, ILogger<CreditCommitQueue> log)
    {
        _db = db;
        _holds = holds;
        _log = log;
        _maxBatch = Math.Max(1, options.Value.MaxBatchSize);
        _loop = Task.Run(RunAsync);
    }

    /// <summary>As <see cref="CreditHolds.TryPlaceAsync"/>: the hold's id, or null when the team's available credits cannot cover it.</summary>
    public Task<string?> TryPlaceAsync(string teamId, string requestId, string endpoint, string model, decimal amount)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(amount);
        var ask = new HoldAsk(Ulid.NewId("hold"), teamId, requestId, endpoint, model, amount);
        var done = NewCompletion<string?>();
        return _asks.Writer.TryWrite(new Ask(ask, done)) ? done.Task : _holds.TryPlaceAsync(teamId, requestId, endpoint, model, amount);
    }

    /// <summary>
    /// As <see cref="CreditHolds.CaptureAsync(Capture, IdempotentResponse?, CancellationToken)"/> without a stored
    /// response: completes once the cycle holding this capture has committed durably, with the receipt id, or null when
    /// the hold was no longer open (nothing charged).
    /// </summary>
    public Task<string?> CaptureAsync(Capture capture)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capture.Amount);
        var done = NewCompletion<string?>();
        return _asks.Writer.TryWrite(new Ask(new CaptureAsk(capture, Ulid.NewId("rcpt")), done)) ? done.Task : _holds.CaptureAsync(capture);
    }

    /// <summary>As <see cref="CreditHolds.ReleaseAsync"/>: true when the hold was open and is now released.</summary>
    public Task<bool> ReleaseAsync(string teamId, string holdId)
    {
        var done = NewCompletion<bool>();
        return _asks.Writer.TryWrite(new Ask(new ReleaseAsk(teamId, holdId), done)) ? done.Task : _holds.ReleaseAsync(holdId);
    }

    private async Task RunAsync()
    {
        var cycle = new Cycle();
        while (await _asks.Reader.WaitToReadAsync())
        {
            while (!cycle.IsFull(_maxBatch) && _asks.Reader.TryRead(out var ask))
            {
                cycle.Add(ask);
            }
            try
            {
                await CommitAsync(cycle);
            }
            catch (Exception ex)
            {
                // Each commit completes its own items whatever happens; this is a bug guard that keeps the loop alive.
                _log.LogError(ex, "A ledger cycle of {Count} failed outside its own handling", cycle.Count);
            }
            cycle.Clear();
        }
    }

    private async Task CommitAsync(Cycle cycle)
    {
        // A hold asked twice in one cycle: the repeats run alone after it, and get the first capture's receipt.
        var seen = new HashSet<string>();
        var repeats = new List<(CaptureAsk Ask, TaskCompletionSource<string?> Done)>();
        var captures = new List<(CaptureAsk Ask, TaskCompletionSource<string?> Done)>(cycle.Captures.Count);
        foreach (var item in cycle.Captures)
        {
            (seen.Add(item.Ask.Capture.HoldId) ? captures : repeats).Add(item);
        }
        var kinds = (captures.Count > 0 ? 1 : 0) + (cycle.Releases.Count > 0 ? 1 : 0) + (cycle.Holds.Count > 0 ? 1 : 0);
        var together = kinds > 1 ? await TryCycleAsync(captures, cycle.Releases, cycle.Holds) : null;
        // One kind alone, or a mixed cycle that failed: each kind as its own batch, so one bad item does not hold up the others.
        var captured = captures.Count == 0 ? null : together?.Receipts ?? (await TryCycleAsync(captures, [], []))?.Receipts;
        var released = cycle.Releases.Count == 0 ? null : together?.Released ?? (await TryCycleAsync([], cycle.Releases, []))?.Released;
        var placed = cycle.Holds.Count == 0 ? null : together?.Placed ?? (await TryCycleAsync([], [], cycle.Holds))?.Placed;

        if (captured is null)
        {
            repeats.InsertRange(0, captures);
        }
        else
        {
            foreach (var (ask, done) in captures)
            {
                done.TrySetResult(captured.GetValueOrDefault(ask.Capture.HoldId));
            }
        }
        foreach (var (ask, done) in repeats)
        {
            await CompleteAsync(done, () => _holds.CaptureAsync(ask.Capture));
        }

        foreach (var (ask, done) in cycle.Releases)
        {
            if (released is null)
            {
                await CompleteAsync(done, () => _holds.ReleaseAsync(ask.HoldId));
            }
            else
            {
                // A hold asked twice in one cycle is released once: the first asker gets true, as the statements would say.
                done.TrySetResult(released.Remove(ask.HoldId));
            }
        }

        foreach (var (ask, done) in cycle.Holds)
        {
            if (placed?.Contains(ask.Id) == true)
            {
                done.TrySetResult(ask.Id);
            }
            else
            {
                // Refused within the cycle (credits taken by holds ahead of it) or the batch failed: ask alone, so
                // the answer is exactly today's. Not awaited: the next cycle need not wait for it.
                _ = CompleteAsync(done, () => _holds.TryPlaceAsync(ask.TeamId, ask.RequestId, ask.Endpoint, ask.Model, ask.Amount));
            }
        }
    }

    /// <summary>Runs one cycle's statements in its span; null when it failed (its items are then asked again).</summary>
    private async Task<CycleResult?> TryCycleAsync(
        List<(CaptureAsk Ask, TaskCompletionSource<string?> Done)> captures,
        List<(ReleaseAsk Ask, TaskCompletionSource<bool> Done)> releases,
        List<(HoldAsk Ask, TaskCompletionSource<string?> Done)> holds)
    {
        try
        {
            using var activity = Activity.StartActivity("ledger.cycle");
            activity?.SetTag("aurous.ledger.captures", captures.Count);
            activity?.SetTag("aurous.ledger.releases", releases.Count);
            activity?.SetTag("aurous.ledger.holds", holds.Count);
            return await CreditBatches.RunCycleAsync(_db, captures.ConvertAll(i => i.Ask), releases.ConvertAll(i => i.Ask), holds.ConvertAll(i => i.Ask), CancellationToken.None);
        }
        catch (Exception ex)
        {
            _log.LogWarning(ex, "A ledger batch of {Captures} captures, {Releases} releases and {Holds} holds failed; asking again",
                captures.Count, releases.Count, holds.Count);
            return null;
        }
    }

    private static async Task CompleteAsync<T>(TaskCompletionSource<T> done, Func<Task<T>> alone)
    {
        try
        {
            done.TrySetResult(await alone());
        }
        catch (Exception ex)
        {
            done.TrySetException(ex);
        }
    }

    /// <summary>Stops taking asks and waits until every cycle asked so far has committed.</summary>
    public async ValueTask DisposeAsync()
    {
        _asks.Writer.TryComplete();
        await _loop;
    }

    private static TaskCompletionSource<T> NewCompletion<T>() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>One ask of any kind, as it waits in the queue.</summary>
    private readonly record struct Ask(object Item, object Done);

    /// <summary>The asks gathered for one cycle, by kind; each kind holds at most the batch size.</summary>
    private sealed class Cycle
    {
        public List<(HoldAsk Ask, TaskCompletionSource<string?> Done)> Holds { get; } = [];
        public List<(CaptureAsk Ask, TaskCompletionSource<string?> Done)> Captures { get; } = [];
        public List<(ReleaseAsk Ask, TaskCompletionSource<bool> Done)> Releases { get; } = [];

        public int Count => Holds.Count + Captures.Count + Releases.Count;

        public bool IsFull(int maxBatch) => Holds.Count >= maxBatch || Captures.Count >= maxBatch || Releases.Count >= maxBatch;

        public void Add(Ask ask)
        {
            switch (ask.Item)
            {
                case HoldAsk hold:
                    Holds.Add((hold, (TaskCompletionSource<string?>)ask.Done));
                    break;
                case CaptureAsk capture:
                    Captures.Add((capture, (TaskCompletionSource<string?>)ask.Done));
                    break;
                case ReleaseAsk release:
                    Releases.Add((release, (TaskCompletionSource<bool>)ask.Done));
                    break;
            }
        }

        public void Clear()
        {
            Holds.Clear();
            Captures.Clear();
            Releases.Clear();
        }
    }
}
