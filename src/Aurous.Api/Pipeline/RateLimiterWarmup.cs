using Aurous.Api.Metering;

namespace Aurous.Api.Pipeline;

/// <summary>
/// Makes one rate-limit decision as the API starts, so that the first burst of requests does not pay the one-time
/// costs (loading the script into Redis, compiling the code path) against the Redis budget and fall back locally; and
/// as the API stops, applies the token settlements still queued, so that none is lost with the process.
/// </summary>
public sealed class RateLimiterWarmup(RateLimiter limiter, ILogger<RateLimiterWarmup> log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await limiter.WarmUpAsync().WaitAsync(TimeSpan.FromSeconds(10), stoppingToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
        {
            log.LogWarning(ex, "Could not warm up the Redis rate limiter; the first decisions may be judged locally.");
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        try
        {
            await limiter.FlushSettlementsAsync().WaitAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            log.LogWarning(ex, "Could not apply the queued token settlements at shutdown.");
        }
        catch (OperationCanceledException)
        {
            log.LogWarning("Shutdown ended before the queued token settlements were applied.");
        }
    }
}
