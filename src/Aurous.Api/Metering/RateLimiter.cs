using Microsoft.Extensions.Options;
using Polly;
using Polly.CircuitBreaker;
using StackExchange.Redis;

namespace Aurous.Api.Metering;

/// <summary>The state of one bucket after a request was judged. RetryAfterSeconds is -1 when the cost exceeds the limit itself.</summary>
public readonly record struct BucketState(bool Allowed, long Limit, long Remaining, int ResetSeconds, int RetryAfterSeconds)
{
    /// <summary>The bucket once <paramref name="delta"/> more units are taken from it (negative: given back), as a header shows it.</summary>
    public BucketState Adjusted(long delta)
    {
        var remaining = Math.Clamp(Remaining - delta, 0, Limit);
        return this with { Remaining = remaining, ResetSeconds = (int)Math.Ceiling((Limit - remaining) * 60.0 / Math.Max(1, Limit)) };
    }
}

public sealed class RateLimitOptions
{
    public int DefaultRequestsPerMinute { get; set; } = Accounts.PlatformRateLimits.RequestsPerMinute;
    public int DefaultTokensPerMinute { get; set; } = Accounts.PlatformRateLimits.TokensPerMinute;

    /// <summary>The most one rate-limit decision waits for Redis before the instance's local limits judge instead.</summary>
    public TimeSpan RedisBudget { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>While Redis is known down, how long requests skip it before one request tries it again.</summary>
    public TimeSpan RedisRetryInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>API instances sharing the team limits; without Redis each instance allows limit / ApiInstances.</summary>
    public int ApiInstances { get; set; } = 1;
}

/// <summary>
/// Per-team token buckets in Redis: requests per minute (every /v1 route) and tokens per minute (chat, embeddings).
/// Every decision is one Lua script run, atomic on the Redis server and timed by its clock, so limits hold exactly
/// across any number of API instances sharing it. A bucket holds <c>limit</c> units and refills at limit per minute.
/// Several buckets judged in one call are all-or-nothing: a denied request consumes from none of them.
/// Redis gets at most <see cref="RateLimitOptions.RedisBudget"/> per decision. When it is slow or down, the same
/// buckets are judged by this instance alone (<see cref="LocalRateLimits"/>), and a circuit breaker keeps requests from
/// each paying the budget while it stays down; one request a <see cref="RateLimitOptions.RedisRetryInterval"/> tries
/// Redis again, and the first that succeeds brings every request back to it. Credits never depend on Redis.
/// </summary>
public sealed class RateLimiter
{
    private static readonly System.Diagnostics.Metrics.Counter<long> ModeChanges = MeteringTelemetry.Meter.CreateCounter<long>(
        "aurous.ratelimit.mode_changes", unit: "{change}", description: "Rate limits switching between Redis (shared) and local (per instance) judging.");

    private readonly IConnectionMultiplexer _redis;
    private readonly RateLimitOptions _options;
    private readonly LocalRateLimits _local;
    private readonly ResiliencePipeline _circuit;
    private readonly CircuitBreakerStateProvider _state = new();
    private readonly TokenSettlements _settlements;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> _exhausted = new(StringComparer.Ordinal);

    public RateLimiter(IConnectionMultiplexer redis, IOptions<RateLimitOptions> options, ILogger<RateLimiter> log)
    {
        _redis = redis;
        _options = options.Value;
        _local = new LocalRateLimits(Math.Max(1, _options.ApiInstances));
        _settlements = new TokenSettlements(AdjustTokensAsync, log);
        _circuit = new ResiliencePipelineBuilder().AddCircuitBreaker(new CircuitBreakerStrategyOptions
        {
            // No token is passed, so a cancellation can only come from the client library (a connection being reset).
            ShouldHandle = new PredicateBuilder().Handle<RedisException>().Handle<TimeoutException>().Handle<OperationCanceledException>(),
            FailureRatio = 0.5,
            MinimumThroughput = 2,
            SamplingDuration = TimeSpan.FromSeconds(2),
            BreakDuration = _options.RedisRetryInterval,
            StateProvider = _state,
            OnOpened = _ =>
            {
                ModeChanges.Add(1, new KeyValuePair<string, object?>("aurous.mode", "local"));
                log.LogWarning("Redis did not answer within {Budget} ms: rate limits are enforced per API instance until it does.", _options.RedisBudget.TotalMilliseconds);
                return ValueTask.CompletedTask;
            },
            OnClosed = _ =>
            {
                ModeChanges.Add(1, new KeyValuePair<string, object?>("aurous.mode", "redis"));
                log.LogInformation("Redis answers again: rate limits are shared through it.");
                return ValueTask.CompletedTask;
            },
        }).Build();
    }

    /// <summary>False while Redis is known down (or slow) and this instance's local limits judge.</summary>
    public bool UsesRedis => _state.CircuitState is CircuitState.Closed;

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
            return (NoteRequests(teamId, only[0]), null);
        }
        var both = await RunAsync([RpmKey(teamId), TpmKey(teamId)], [rpmLimit, 1, tpm, 0], force: false);
        return (NoteRequests(teamId, both[0]), both[1]);
    }

    /// <summary>
    /// Takes <paramref name="tokens"/> from the TPM bucket and, when <paramref name="rpmLimit"/> is given, one request
    /// from the RPM bucket in the same script run: both or neither.
    /// </summary>
    public async Task<(BucketState? Rpm, BucketState Tpm)> AcquireAsync(string teamId, long? rpmLimit, long tpmLimit, long tokens)
    {
        if (rpmLimit is not { } rpm)
        {
            return (null, (await RunAsync([TpmKey(teamId)], [tpmLimit, tokens], force: false))[0]);
        }
        var both = await RunAsync([RpmKey(teamId), TpmKey(teamId)], [rpm, 1, tpmLimit, tokens], force: false);
        return (NoteRequests(teamId, both[0]), both[1]);
    }

    /// <summary>Loads the script into Redis and runs it once on a bucket of its own (no team's), bypassing the budget.</summary>
    public Task WarmUpAsync() =>
        _redis.GetDatabase().ScriptEvaluateAsync(Script, [(RedisKey)"rl:{warmup}:rpm"], [1, 0, 0]);

    public async Task<BucketState> AcquireTokensAsync(string teamId, long tpmLimit, long tokens) =>
        (await RunAsync([TpmKey(teamId)], [tpmLimit, tokens], force: false))[0];

    /// <summary>Settles the TPM bucket once the real token count is known; a negative delta gives units back.</summary>
    public async Task<BucketState> AdjustTokensAsync(string teamId, long tpmLimit, long delta) =>
        (await RunAsync([TpmKey(teamId)], [tpmLimit, delta], force: true))[0];

    /// <summary>
    /// Queues a settlement of the TPM bucket (<see cref="AdjustTokensAsync"/>) to be applied in the background, summed
    /// with the team's other pending settlements, so that it adds no round trip before a response.
    /// </summary>
    public void AdjustTokensLater(string teamId, long tpmLimit, long delta) => _settlements.Add(teamId, tpmLimit, delta);

    /// <summary>Applies every queued settlement now (at shutdown, and for tests).</summary>
    public Task FlushSettlementsAsync() => _settlements.FlushAsync();

    /// <summary>
    /// True while this instance last saw the team's RPM bucket empty (and it has not refilled a unit since): its
    /// requests are then judged before anything else is done for them, as a flood of refused requests should cost
    /// nothing more than that judgement.
    /// </summary>
    public bool RequestsLikelyExhausted(string teamId)
    {
        if (!_exhausted.TryGetValue(teamId, out var until))
        {
            return false;
        }
        if (System.Diagnostics.Stopwatch.GetTimestamp() < until)
        {
            return true;
        }
        _exhausted.TryRemove(teamId, out _);
        return false;
    }

    private BucketState NoteRequests(string teamId, BucketState rpm)
    {
        if (rpm.Remaining > 0)
        {
            return rpm;
        }
        // Until the next unit refills: a denied request says when it fits, an allowed one took the last unit.
        var seconds = rpm.Allowed || rpm.RetryAfterSeconds < 0 ? 60.0 / Math.Max(1, rpm.Limit) : rpm.RetryAfterSeconds;
        _exhausted[teamId] = System.Diagnostics.Stopwatch.GetTimestamp() + (long)(seconds * System.Diagnostics.Stopwatch.Frequency);
        return rpm;
    }

    private static RedisKey RpmKey(string teamId) => "rl:{" + teamId + "}:rpm";
    private static RedisKey TpmKey(string teamId) => "rl:{" + teamId + "}:tpm";

    /// <summary>Judges in Redis within the budget; when Redis fails, is too slow or is known down, judges locally.</summary>
    private async Task<BucketState[]> RunAsync(RedisKey[] keys, long[] args, bool force)
    {
        try
        {
            return await _circuit.ExecuteAsync(static async (state, _) => await state.Self.RunOnRedisAsync(state.Keys, state.Args, state.Force),
                (Self: this, Keys: keys, Args: args, Force: force), CancellationToken.None);
        }
        catch (Exception ex) when (ex is BrokenCircuitException or RedisException or TimeoutException or OperationCanceledException)
        {
            return _local.Judge(Array.ConvertAll(keys, k => (string)k!), args, force);
        }
    }

    private async Task<BucketState[]> RunOnRedisAsync(RedisKey[] keys, long[] args, bool force)
    {
        var values = new RedisValue[args.Length + 1];
        for (var i = 0; i < args.Length; i++)
        {
            values[i] = args[i];
        }
        values[^1] = force ? 1 : 0;
        var call = _redis.GetDatabase().ScriptEvaluateAsync(Script, keys, values);
        RedisResult[] raw;
        try
        {
            raw = (RedisResult[])(await call.WaitAsync(_options.RedisBudget))!;
        }
        catch (TimeoutException)
        {
            // The call goes on in the background until the connection's own timeout; observe its end.
            _ = call.ContinueWith(static t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously);
            throw;
        }
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
