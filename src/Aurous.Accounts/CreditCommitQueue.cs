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
/// Group commit of credit holds, captures and releases for one API instance: requests asking within one batch window
/// share one transaction and one round trip, so a team's balance row is locked once per batch instead of once per
/// request, and captures share one WAL flush. The window is natural: while one batch of a kind is in flight the next
/// one accumulates, so a lone request goes at once and nothing ever sleeps. Results are exactly those of the single
/// statements of <see cref="CreditHolds"/>: a hold a batch refuses is asked again alone (a 402 is never given while
/// the team's credits cover that request), and when a batch fails (one bad item) its items are retried one by one.
/// Captures commit durably before any caller learns its receipt; holds and releases commit relaxed, as the single
/// statements do. Disposing it drains what was asked; anything asked after that runs as a single statement.
/// </summary>
public sealed class CreditCommitQueue : IAsyncDisposable
{
    private static readonly ActivitySource Activity = new("Aurous.Ledger");

    private readonly NpgsqlDataSource _db;
    private readonly CreditHolds _holds;
    private readonly ILogger _log;
    private readonly int _maxBatch;
    private readonly Channel<(HoldAsk Ask, TaskCompletionSource<string?> Done)> _holdAsks = NewChannel<(HoldAsk, TaskCompletionSource<string?>)>();
    private readonly Channel<(CaptureAsk Ask, TaskCompletionSource<string?> Done)> _captureAsks = NewChannel<(CaptureAsk, TaskCompletionSource<string?>)>();
    private readonly Channel<(ReleaseAsk Ask, TaskCompletionSource<bool> Done)> _releaseAsks = NewChannel<(ReleaseAsk, TaskCompletionSource<bool>)>();
    private readonly Task[] _loops;

    public CreditCommitQueue(NpgsqlDataSource db, CreditHolds holds, IOptions<CreditCommitOptions> options, ILogger<CreditCommitQueue> log)
    {
        _db = db;
        _holds = holds;
        _log = log;
        _maxBatch = Math.Max(1, options.Value.MaxBatchSize);
        _loops =
        [
            Task.Run(() => RunAsync(_holdAsks.Reader, PlaceBatchAsync)),
            Task.Run(() => RunAsync(_captureAsks.Reader, CaptureBatchAsync)),
            Task.Run(() => RunAsync(_releaseAsks.Reader, ReleaseBatchAsync)),
        ];
    }

    /// <summary>As <see cref="CreditHolds.TryPlaceAsync"/>: the hold's id, or null when the team's available credits cannot cover it.</summary>
    public Task<string?> TryPlaceAsync(string teamId, string requestId, string endpoint, string model, decimal amount)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(amount);
        var done = NewCompletion<string?>();
        var ask = new HoldAsk(Ulid.NewId("hold"), teamId, requestId, endpoint, model, amount);
        return _holdAsks.Writer.TryWrite((ask, done)) ? done.Task : _holds.TryPlaceAsync(teamId, requestId, endpoint, model, amount);
    }

    /// <summary>
    /// As <see cref="CreditHolds.CaptureAsync(Capture, IdempotentResponse?, CancellationToken)"/> without a stored
    /// response: completes once the batch holding this capture has committed durably, with the receipt id, or null when
    /// the hold was no longer open (nothing charged).
    /// </summary>
    public Task<string?> CaptureAsync(Capture capture)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capture.Amount);
        var done = NewCompletion<string?>();
        return _captureAsks.Writer.TryWrite((new CaptureAsk(capture, Ulid.NewId("rcpt")), done)) ? done.Task : CaptureAloneAsync(capture);
    }

    /// <summary>As <see cref="CreditHolds.ReleaseAsync"/>: true when the hold was open and is now released.</summary>
    public Task<bool> ReleaseAsync(string teamId, string holdId)
    {
        var done = NewCompletion<bool>();
        return _releaseAsks.Writer.TryWrite((new ReleaseAsk(teamId, holdId), done)) ? done.Task : _holds.ReleaseAsync(holdId);
    }

    private async Task RunAsync<T>(ChannelReader<T> reader, Func<List<T>, Task> commit)
    {
        var batch = new List<T>(_maxBatch);
        while (await reader.WaitToReadAsync())
        {
            while (batch.Count < _maxBatch && reader.TryRead(out var item))
            {
                batch.Add(item);
            }
            try
            {
                await commit(batch);
            }
            catch (Exception ex)
            {
                // Each commit completes its own items whatever happens; this is a bug guard that keeps the loop alive.
                _log.LogError(ex, "A ledger batch of {Count} failed outside its own handling", batch.Count);
            }
            batch.Clear();
        }
    }

    private async Task PlaceBatchAsync(List<(HoldAsk Ask, TaskCompletionSource<string?> Done)> items)
    {
        var placed = await TryBatchAsync("ledger.hold_batch", "holds", items.Count,
            () => CreditBatches.PlaceAsync(_db, items.ConvertAll(i => i.Ask), CancellationToken.None)) ?? [];
        foreach (var (ask, done) in items)
        {
            if (placed.Contains(ask.Id))
            {
                done.TrySetResult(ask.Id);
            }
            else
            {
                // Refused within the batch (credits taken by holds ahead of it) or the batch failed: ask alone, so
                // the answer is exactly today's. Not awaited: the next batch need not wait for it.
                _ = CompleteAsync(done, () => _holds.TryPlaceAsync(ask.TeamId, ask.RequestId, ask.Endpoint, ask.Model, ask.Amount));
            }
        }
    }

    private async Task CaptureBatchAsync(List<(CaptureAsk Ask, TaskCompletionSource<string?> Done)> items)
    {
        // A hold asked twice in one batch: the repeats run alone after the batch, and get the first capture's receipt;
        // so do holds the batch did not charge.
        var seen = new HashSet<string>();
        var batch = new List<(CaptureAsk Ask, TaskCompletionSource<string?> Done)>(items.Count);
        var repeats = new List<(CaptureAsk Ask, TaskCompletionSource<string?> Done)>();
        foreach (var item in items)
        {
            (seen.Add(item.Ask.Key) ? batch : repeats).Add(item);
        }
        var receipts = await TryBatchAsync("ledger.capture_batch", "captures", batch.Count,
            () => CreditBatches.CaptureAsync(_db, batch.ConvertAll(i => i.Ask), CancellationToken.None));
        if (receipts is null)
        {
            repeats.InsertRange(0, batch);
        }
        else
        {
            foreach (var item in batch)
            {
                if (receipts.TryGetValue(item.Ask.Key, out var receipt))
                {
                    item.Done.TrySetResult(receipt);
                }
                else
                {
                    // Not charged by the batch: asked alone, which gives an already-captured hold its first receipt
                    // and any other hold no longer open null, as the single statement does.
                    repeats.Add(item);
                }
            }
        }
        foreach (var (ask, done) in repeats)
        {
            await CompleteAsync(done, () => CaptureAloneAsync(ask.Capture));
        }
    }

    /// <summary>One capture in its own transaction, as the batch would have charged it.</summary>
    private Task<string?> CaptureAloneAsync(Capture capture) =>
        capture.FromLease ? CreditBatches.CaptureFromLeaseAsync(_db, capture, CancellationToken.None) : _holds.CaptureAsync(capture);

    private async Task ReleaseBatchAsync(List<(ReleaseAsk Ask, TaskCompletionSource<bool> Done)> items)
    {
        var released = await TryBatchAsync("ledger.release_batch", "releases", items.Count,
            () => CreditBatches.ReleaseAsync(_db, items.ConvertAll(i => i.Ask), CancellationToken.None));
        foreach (var (ask, done) in items)
        {
            if (released is null)
            {
                await CompleteAsync(done, () => _holds.ReleaseAsync(ask.HoldId));
            }
            else
            {
                // A hold asked twice in one batch is released once: the first asker gets true, as the statements would say.
                done.TrySetResult(released.Remove(ask.HoldId));
            }
        }
    }

    /// <summary>Runs one batch statement in its span; null when it failed (its items are then asked one by one).</summary>
    private async Task<T?> TryBatchAsync<T>(string span, string kind, int count, Func<Task<T>> run) where T : class
    {
        try
        {
            using var activity = Activity.StartActivity(span);
            activity?.SetTag("aurous.ledger.batch_size", count);
            return await run();
        }
        catch (Exception ex)
        {
            _log.LogWarning(ex, "A batch of {Count} {Kind} failed; asking them one by one", count, kind);
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

    /// <summary>Stops taking asks and waits until every batch asked so far has committed.</summary>
    public async ValueTask DisposeAsync()
    {
        _holdAsks.Writer.TryComplete();
        _captureAsks.Writer.TryComplete();
        _releaseAsks.Writer.TryComplete();
        await Task.WhenAll(_loops);
    }

    private static Channel<T> NewChannel<T>() => Channel.CreateUnbounded<T>(new UnboundedChannelOptions { SingleReader = true });

    private static TaskCompletionSource<T> NewCompletion<T>() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
