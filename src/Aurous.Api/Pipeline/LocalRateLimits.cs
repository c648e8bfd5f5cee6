using System.Threading.RateLimiting;
using Aurous.Api.Metering;

namespace Aurous.Api.Pipeline;

/// <summary>
/// The rate limits one API instance enforces on its own while Redis is slow or down: the same buckets (requests and
/// tokens per minute, per team) as token buckets in memory, each holding the team's limit divided by the number of API
/// instances and refilling continuously (in steps of at least one unit, at most a second apart) to that many a minute. Units settled back (a negative adjustment) are not returned here, and a
/// positive one takes what the bucket still holds: close enough for the minutes an outage lasts.
/// </summary>
public sealed class LocalRateLimits(int instances)
{
    // One token bucket per Redis key and capacity, so a team whose limit changes starts a bucket at its new size.
    private readonly PartitionedRateLimiter<(string Key, long Capacity)> _buckets = PartitionedRateLimiter.Create<(string Key, long Capacity), (string, long)>(
        bucket => RateLimitPartition.GetTokenBucketLimiter(bucket, b =>
        {
            var capacity = Math.Min(int.MaxValue, b.Item2);
            var step = Math.Max(1, capacity / 60);
            return new TokenBucketRateLimiterOptions
            {
                TokenLimit = (int)capacity,
                TokensPerPeriod = (int)step,
                ReplenishmentPeriod = TimeSpan.FromMinutes(1) * step / capacity,
                QueueLimit = 0,
                AutoReplenishment = true,
            };
        }));

    /// <summary>
    /// As the Redis script: <paramref name="args"/> are limit, cost pairs. A cost that does not fit denies the request;
    /// a forced one (settling units already used) takes what the bucket holds.
    /// </summary>
    public BucketState[] Judge(string[] keys, long[] args, bool force)
    {
        var allowed = true;
        var states = new BucketState[keys.Length];
        for (var i = 0; i < keys.Length; i++)
        {
            var bucket = (keys[i], Math.Max(1, args[2 * i] / instances));
            var cost = args[2 * i + 1];
            var perSecond = bucket.Item2 / 60.0;
            var retry = 0;
            if (cost > 0 && force)
            {
                using var _ = _buckets.AttemptAcquire(bucket, (int)Math.Min(cost, Available(bucket)));
            }
            else if (cost > bucket.Item2)
            {
                (allowed, retry) = (false, -1);
            }
            else if (cost > 0 && allowed)
            {
                using var lease = _buckets.AttemptAcquire(bucket, (int)cost);
                if (!lease.IsAcquired)
                {
                    allowed = false;
                    retry = (int)Math.Max(1, Math.Ceiling((cost - Available(bucket)) / perSecond));
                }
            }
            var available = Available(bucket);
            states[i] = new BucketState(allowed, args[2 * i], available, (int)Math.Ceiling((bucket.Item2 - available) / perSecond), retry);
        }
        // All or nothing, as in Redis: every bucket reports the one verdict.
        return Array.ConvertAll(states, s => s with { Allowed = allowed });
    }

    private long Available((string Key, long Capacity) bucket) => Math.Min(int.MaxValue, _buckets.GetStatistics(bucket)?.CurrentAvailablePermits ?? bucket.Capacity);
}
