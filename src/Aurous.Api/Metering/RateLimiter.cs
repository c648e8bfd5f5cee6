using StackExchange.Redis;

namespace Aurous.Api.Metering;

/// <summary>The state of one bucket after a request was judged. RetryAfterSeconds is -1 when the cost exceeds the limit itself.</summary>
public readonly record struct BucketState(bool Allowed, long Limit, long Remaining, int ResetSeconds, int RetryAfterSeconds);

public sealed class RateLimitOptions
{
    public int DefaultRequestsPerMinute { get; set; } = 600;
    public int DefaultTokensPerMinute { get; set; } = 2_000_000;
}

/// <summary>
/// Per-team token buckets in Redis: requests per minute (every /v1 route) and tokens per minute (chat, embeddings).
/// Every decision is one Lua script run, atomic on the Redis server and timed by its clock, so limits hold exactly
/// across any number of API instances sharing it. A bucket holds <c>limit</c> units and refills at limit per minute.
/// Several buckets judged in one call are all-or-nothing: a denied request consumes from none of them.
/// </summary>
public sealed class RateLimiter(IConnectionMultiplexer redis)
{
    // KEYS: buckets. ARGV: capacity_1, cost_1, ..., capacity_n, cost_n, force ('1': apply even when it overdraws, for
    // settling units already used). Returns per bucket: allowed, remaining, ms until full, ms until the cost fits (-1: never).
    private const string Script = """
        local n = #KEYS
        local force = ARGV[2 * n + 1] == '1'
        local window = 60000
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local level = {}
        local ok = true
        for i = 1, n do
          local cap = tonumber(ARGV[2 * i - 1])
          local cost = tonumber(ARGV[2 * i])
          local st = redis.call('HMGET', KEYS[i], 'tokens', 'ts')
          local tokens = tonumber(st[1])
          local ts = tonumber(st[2])
          if tokens == nil then tokens = cap; ts = now end
          tokens = math.min(cap, tokens + math.max(0, now - ts) * cap / window)
          level[i] = tokens
          if cost > 0 and cost > tokens and not force then ok = false end
        end
        local out = {}
        for i = 1, n do
          local cap = tonumber(ARGV[2 * i - 1])
          local cost = tonumber(ARGV[2 * i])
          local rate = cap / window
          local tokens = level[i]
          local retry = 0
          if ok then
            tokens = math.min(cap, tokens - cost)
            redis.call('HSET', KEYS[i], 'tokens', tostring(tokens), 'ts', now)
            -- Keep a bucket in debt until it has refilled, so idling does not forgive the debt.
            redis.call('PEXPIRE', KEYS[i], math.max(window * 2, math.ceil((cap - tokens) / rate) + window))
          elseif cost > cap then
            retry = -1
          elseif cost > 0 and cost > tokens then
            retry = math.ceil((cost - tokens) / rate)
          end
          out[#out + 1] = ok and 1 or 0
          out[#out + 1] = math.floor(tokens)
          out[#out + 1] = math.ceil((cap - tokens) / rate)
          out[#out + 1] = retry
        end
        return out
        """;

    /// <summary>Takes one request from the RPM bucket and, when <paramref name="tpmLimit"/> is given, reads the TPM bucket.</summary>
    public async Task<(BucketState Rpm, BucketState? Tpm)> AcquireRequestAsync(string teamId, long rpmLimit, long? tpmLimit)
    {
        if (tpmLimit is not { } tpm)
        {
            var only = await RunAsync([RpmKey(teamId)], [rpmLimit, 1], force: false);
            return (only[0], null);
        }
        var both = await RunAsync([RpmKey(teamId), TpmKey(teamId)], [rpmLimit, 1, tpm, 0], force: false);
        return (both[0], both[1]);
    }

    public async Task<BucketState> AcquireTokensAsync(string teamId, long tpmLimit, long tokens) =>
        (await RunAsync([TpmKey(teamId)], [tpmLimit, tokens], force: false))[0];

    /// <summary>Settles the TPM bucket once the real token count is known; a negative delta gives units back.</summary>
    public async Task<BucketState> AdjustTokensAsync(string teamId, long tpmLimit, long delta) =>
        (await RunAsync([TpmKey(teamId)], [tpmLimit, delta], force: true))[0];

    private static RedisKey RpmKey(string teamId) => $"rl:{{{teamId}}}:rpm";
    private static RedisKey TpmKey(string teamId) => $"rl:{{{teamId}}}:tpm";

    private async Task<BucketState[]> RunAsync(RedisKey[] keys, long[] args, bool force)
    {
        var values = args.Select(a => (RedisValue)a).Append(force ? 1 : 0).ToArray();
        var raw = (RedisResult[])(await redis.GetDatabase().ScriptEvaluateAsync(Script, keys, values))!;
        var states = new BucketState[keys.Length];
        for (var i = 0; i < keys.Length; i++)
        {
            var retryMs = (long)raw[4 * i + 3];
            states[i] = new BucketState(
                (long)raw[4 * i] == 1, args[2 * i], Math.Max(0, (long)raw[4 * i + 1]),
                (int)Math.Ceiling((long)raw[4 * i + 2] / 1000.0),
                retryMs < 0 ? -1 : (int)Math.Ceiling(retryMs / 1000.0));
        }
        return states;
    }
}
