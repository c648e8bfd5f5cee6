using System.Diagnostics;
using Aurous.Api.Extensions;
using Microsoft.Extensions.Options;

namespace Aurous.Api.Inference;

/// <summary>
/// Watches the inference worker through its cheap <c>/alive</c> endpoint (answered by Kestrel apart from the decode
/// loops, so a busy worker usually still answers). The worker is down once it has missed
/// <see cref="InferenceWorkerOptions.LivenessMisses"/> pings in a row and nothing else was heard from it for as long
/// (misses x timeout): a worker streaming tokens to this API is alive even when a flood of generations delays its
/// pings. Then every call in flight is cancelled (<see cref="Token"/>) and new calls fail at once with 503
/// <c>model_unavailable</c>; the first answered ping brings it back. A worker that hangs is thus noticed within
/// interval + misses x timeout (about 4 s with the defaults), however long a generation may legitimately take.
/// </summary>
public sealed class WorkerLiveness(IHttpClientFactory http, IOptions<InferenceWorkerOptions> options, ILogger<WorkerLiveness> log) : BackgroundService
{
    private CancellationTokenSource _alive = new();
    private volatile bool _down;
    private int _misses;
    private long _lastHeard = Stopwatch.GetTimestamp();

    /// <summary>True once the worker has missed enough pings in a row; false again after it answers one.</summary>
    public bool IsDown => _down;

    /// <summary>Something came from the worker (response headers, a line of a stream): it is not hung.</summary>
    public void Heard() => Volatile.Write(ref _lastHeard, Stopwatch.GetTimestamp());

    /// <summary>Cancelled when the worker is declared down; a call links it so that it ends then.</summary>
    public CancellationToken Token => Volatile.Read(ref _alive).Token;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var o = options.Value;
        while (!stoppingToken.IsCancellationRequested)
        {
            var started = Stopwatch.GetTimestamp();
            Observe(await PingAsync(o.LivenessTimeout, stoppingToken), o.LivenessMisses, o.LivenessTimeout * o.LivenessMisses);
            var wait = o.LivenessInterval - Stopwatch.GetElapsedTime(started);
            if (wait > TimeSpan.Zero)
            {
                try
                {
                    await Task.Delay(wait, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private async Task<bool> PingAsync(TimeSpan timeout, CancellationToken stoppingToken)
    {
        using var client = http.CreateClient(ApiServiceExtensions.InferenceWorkerClient);
        client.Timeout = Timeout.InfiniteTimeSpan;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        deadline.CancelAfter(timeout);
        try
        {
            using var response = await client.GetAsync("/alive", HttpCompletionOption.ResponseHeadersRead, deadline.Token);
            return response.IsSuccessStatusCode;
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException)
        {
            return false;
        }
    }

    private void Observe(bool answered, int missesAllowed, TimeSpan silenceAllowed)
    {
        if (answered)
        {
            Heard();
            _misses = 0;
            if (_down)
            {
                Interlocked.Exchange(ref _alive, new CancellationTokenSource()).Dispose();
                _down = false;
                log.LogInformation("The inference worker answers again; model calls resume.");
            }
            return;
        }
        if (++_misses >= missesAllowed && !_down && Stopwatch.GetElapsedTime(Volatile.Read(ref _lastHeard)) > silenceAllowed)
        {
            _down = true;
            log.LogError("The inference worker missed {Misses} liveness pings in a row: calls in flight are cancelled and new ones answer 503 until it answers.", _misses);
            _alive.Cancel();
        }
    }

    public override void Dispose()
    {
        _alive.Dispose();
        base.Dispose();
    }
}
