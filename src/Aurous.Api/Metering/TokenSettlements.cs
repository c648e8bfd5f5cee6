using System.Collections.Concurrent;
using System.Threading.Channels;

namespace Aurous.Api.Metering;

/// <summary>
/// TPM settlements (estimate -> real count) applied off the request's path: each is added to its team's pending sum,
/// and one background loop applies every nonzero sum, all teams' calls pipelined on the one Redis connection. Under
/// load a team's settlements arriving while a round is in flight are merged into one call. Memory is one entry per
/// team with a settlement pending. A failed round keeps nothing back: the same adjustment goes through the rate
/// limiter, which judges locally when Redis is down.
/// </summary>
internal sealed class TokenSettlements
{
    private readonly ConcurrentDictionary<(string Team, long Limit), long> _pending = new();
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1)
    {
        FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true,
    });
    private readonly Func<string, long, long, Task<BucketState>> _adjust;
    private readonly ILogger _log;
    private readonly SemaphoreSlim _round = new(1, 1);

    public TokenSettlements(Func<string, long, long, Task<BucketState>> adjust, ILogger log)
    {
        _adjust = adjust;
        _log = log;
        _ = Task.Run(LoopAsync);
    }

    public void Add(string teamId, long tpmLimit, long delta)
    {
        if (delta == 0)
        {
            return;
        }
        _pending.AddOrUpdate((teamId, tpmLimit), static (_, d) => d, static (_, sum, d) => sum + d, delta);
        _wake.Writer.TryWrite(true);
    }

    /// <summary>Applies what is pending now and waits for it.</summary>
    public async Task FlushAsync()
    {
        await _round.WaitAsync();
        try
        {
            await ApplyAsync();
        }
        finally
        {
            _round.Release();
        }
    }

    private async Task LoopAsync()
    {
        while (await _wake.Reader.WaitToReadAsync())
        {
            _wake.Reader.TryRead(out _);
            await FlushAsync();
        }
    }

    private async Task ApplyAsync()
    {
        List<Task>? calls = null;
        foreach (var entry in _pending)
        {
            // Take the sum out atomically: a settlement added after this joins the next round.
            if (_pending.TryRemove(entry.Key, out var delta) && delta != 0)
            {
                (calls ??= []).Add(_adjust(entry.Key.Team, entry.Key.Limit, delta));
            }
        }
        if (calls is null)
        {
            return;
        }
        try
        {
            await Task.WhenAll(calls);
        }
        catch (Exception ex)
        {
            _log.LogWarning(ex, "Could not settle {Count} teams' token-per-minute buckets.", calls.Count);
        }
    }
}
