using System.Diagnostics;
using Aurous.Api.Metering;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Aurous.Api.Health;

/// <summary>
/// Redis carries only the shared rate limits, so a slow or unreachable Redis degrades the API (limits fall back to each
/// instance) rather than taking it out of rotation. Slow means a ping above the rate limiter's Redis budget.
/// </summary>
internal sealed class RedisHealthCheck(IConnectionMultiplexer redis, RateLimiter limiter, IOptions<RateLimitOptions> options) : IHealthCheck
{
    private static readonly TimeSpan PingTimeout = TimeSpan.FromSeconds(1);

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var budget = options.Value.RedisBudget;
        var data = new Dictionary<string, object> { ["rate_limits"] = limiter.UsesRedis ? "shared (redis)" : "per instance (local)" };
        var started = Stopwatch.GetTimestamp();
        try
        {
            var ping = redis.GetDatabase().PingAsync();
            try
            {
                await ping.WaitAsync(PingTimeout, cancellationToken);
            }
            catch (TimeoutException)
            {
                _ = ping.ContinueWith(static t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously);
                throw;
            }
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException || ex is OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            data["latency_ms"] = Math.Round(Stopwatch.GetElapsedTime(started).TotalMilliseconds, 1);
            return HealthCheckResult.Degraded($"redis is unreachable or did not answer within {PingTimeout.TotalMilliseconds} ms; rate limits are enforced per API instance", data: data);
        }
        var latency = Stopwatch.GetElapsedTime(started);
        data["latency_ms"] = Math.Round(latency.TotalMilliseconds, 1);
        if (latency > budget)
        {
            return HealthCheckResult.Degraded($"redis is slow ({latency.TotalMilliseconds:0} ms, budget {budget.TotalMilliseconds:0} ms); rate limits may be enforced per API instance", data: data);
        }
        // Rate limits return to Redis on the next decision after it answers (the data shows where they are judged now).
        return HealthCheckResult.Healthy("redis answers within the rate limiter's budget", data);
    }
}
