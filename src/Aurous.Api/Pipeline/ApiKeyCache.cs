using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Aurous.Accounts;
using Aurous.Api.Metering;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Aurous.Api.Pipeline;

public sealed class ApiKeyCacheOptions
{
    /// <summary>Off: every request looks its key up in Postgres.</summary>
    public bool Enabled { get; set; } = true;

    public int MaxEntries { get; set; } = 10_000;

    /// <summary>A safety net only: changes evict entries through Postgres notifications within milliseconds.</summary>
    public TimeSpan TimeToLive { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Hashes Postgres did not know, remembered so that a repeated unknown key costs no lookup (0: off).</summary>
    public int MaxUnknownEntries { get; set; } = 50_000;

    /// <summary>How long an unknown hash is remembered; a key created meanwhile is found at once anyway (every change
    /// to api_keys notifies, and a notification forgets every unknown hash).</summary>
    public TimeSpan UnknownTimeToLive { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often an idle listener proves its connection alive; a silently dead one is noticed within this plus a few seconds.</summary>
    public TimeSpan ListenerPingInterval { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>
/// Known API keys by the SHA-256 of their text (never the text), so authentication skips Postgres on a hit; and, apart,
/// hashes Postgres did not know (a bounded set with a short TTL), so a repeated unknown key skips it too. Changes to
/// api_keys and teams notify channel <see cref="Channel"/> with the team id (migration 0004), and
/// <see cref="ApiKeyCacheListener"/> evicts that team's keys here on every instance, and forgets every unknown hash (a
/// new key's hash may be among them). Hits of either kind are
/// served only while the listener is listening: before it is, or after its connection drops, notifications may have
/// been missed, so lookups go to Postgres and the cache starts empty once it listens again.
/// </summary>
public sealed class ApiKeyCache
{
    public const string Channel = "aurous_auth";

    private static readonly Counter<long> Lookups = MeteringTelemetry.Meter.CreateCounter<long>(
        "aurous.auth.key_lookups", unit: "{lookup}", description: "API-key lookups by authentication, by cache result (hit, unknown_hit, miss, bypass).");

    private readonly Func<byte[], CancellationToken, Task<ApiKeyRecord?>> _lookup;
    private readonly ApiKeyCacheOptions _options;
    private readonly TimeProvider _clock;
    private readonly long _ttlTicks;
    private readonly ConcurrentDictionary<byte[], Entry> _entries = new(HashComparer.Instance);
    private readonly ConcurrentDictionary<byte[], long> _unknown = new(HashComparer.Instance);
    private readonly long _unknownTtlTicks;

    // Writes take the gate; reads do not. Every invalidation bumps the generation, and a lookup that overlapped one
    // does not store what it read, since the database may have changed after it read and before the eviction ran.
    private readonly Lock _gate = new();
    private long _generation;
    private volatile bool _listening;

    public ApiKeyCache(Func<byte[], CancellationToken, Task<ApiKeyRecord?>> lookup, ApiKeyCacheOptions options, TimeProvider clock)
    {
        _lookup = lookup;
        _options = options;
        _clock = clock;
        _ttlTicks = (long)(options.TimeToLive.TotalSeconds * clock.TimestampFrequency);
        _unknownTtlTicks = (long)(options.UnknownTimeToLive.TotalSeconds * clock.TimestampFrequency);
    }

    /// <summary>True while notifications are being received, and so hits may be served.</summary>
    public bool IsListening => _listening;

    public int Count => _entries.Count;

    /// <summary>Unknown hashes remembered now.</summary>
    public int UnknownCount => _unknown.Count;

    /// <summary>The cached key with this hash, without asking Postgres; null when none is cached (or hits are off).</summary>
    public ApiKeyRecord? Cached(byte[] hash) =>
        _listening && _options.Enabled && _entries.TryGetValue(hash, out var entry) && _clock.GetTimestamp() < entry.ExpiresAt ? entry.Key : null;

    /// <summary>The key with this hash, from the cache when possible; null when Postgres does not know it.</summary>
    public async ValueTask<ApiKeyRecord?> FindAsync(byte[] hash, CancellationToken ct)
    {
        var listening = _listening && _options.Enabled;
        if (Cached(hash) is { } cached)
        {
            Lookups.Add(1, new KeyValuePair<string, object?>("aurous.result", "hit"));
            return cached;
        }
        if (listening && _unknown.TryGetValue(hash, out var unknownUntil) && _clock.GetTimestamp() < unknownUntil)
        {
            Lookups.Add(1, new KeyValuePair<string, object?>("aurous.result", "unknown_hit"));
            return null;
        }
        var generation = Volatile.Read(ref _generation);
        var key = await _lookup(hash, ct);
        if (key is not null && listening)
        {
            Store(hash, key, generation);
        }
        else if (key is null && listening)
        {
            StoreUnknown(hash, generation);
        }
        Lookups.Add(1, new KeyValuePair<string, object?>("aurous.result", listening ? "miss" : "bypass"));
        return key;
    }

    /// <summary>Handles a notification: a team id evicts that team's keys, "*" everything.</summary>
    public void Invalidate(string payload)
    {
        lock (_gate)
        {
            _generation++;
            _unknown.Clear();
            if (payload == "*")
            {
                _entries.Clear();
            }
            else
            {
                foreach (var (hash, entry) in _entries)
                {
                    if (entry.Key.TeamId == payload)
                    {
                        _entries.TryRemove(hash, out _);
                    }
                }
            }
        }
        foreach (var (seen, teamId) in _watches)
        {
            if (payload == "*" || payload == teamId)
            {
                seen.TrySetResult();
            }
        }
    }

    private readonly ConcurrentDictionary<TaskCompletionSource, string> _watches = new();

    /// <summary>
    /// Waits, at most <paramref name="timeout"/>, for the notification of a change to <paramref name="teamId"/>'s keys
    /// that <paramref name="change"/> commits; Postgres sends it to every instance's listener at once, so once this
    /// instance has handled it the others have it too, and the change's answer reaches its caller only then. Without a
    /// listener (hits are not served then), or when <paramref name="changed"/> says nothing was written, it does not
    /// wait; on timeout it evicts the team's keys here itself.
    /// </summary>
    public async Task<T> ChangeAndAwaitNotificationAsync<T>(string teamId, Func<Task<T>> change, Func<T, bool> changed, TimeSpan timeout)
    {
        var seen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _watches[seen] = teamId;
        try
        {
            var result = await change();
            if (changed(result) && _listening && await Task.WhenAny(seen.Task, Task.Delay(timeout)) != seen.Task)
            {
                Invalidate(teamId);
            }
            return result;
        }
        finally
        {
            _watches.TryRemove(seen, out _);
        }
    }

    /// <summary>LISTEN is active: start from empty, as anything cached before may have missed a notification.</summary>
    public void OnListening() => SetListening(true);

    /// <summary>The listener lost its connection: serve nothing from the cache until it listens again.</summary>
    public void OnListenerLost() => SetListening(false);

    private void SetListening(bool listening)
    {
        lock (_gate)
        {
            _listening = listening;
            _generation++;
            _entries.Clear();
            _unknown.Clear();
        }
    }

    private void Store(byte[] hash, ApiKeyRecord key, long generation)
    {
        lock (_gate)
        {
            if (!_listening || _generation != generation)
            {
                return;
            }
            var now = _clock.GetTimestamp();
            if (!_entries.ContainsKey(hash) && _entries.Count >= _options.MaxEntries)
            {
                Trim(now);
            }
            _entries[hash] = new Entry(key, now + _ttlTicks);
        }
    }

    private void StoreUnknown(byte[] hash, long generation)
    {
        if (_options.MaxUnknownEntries <= 0)
        {
            return;
        }
        lock (_gate)
        {
            if (!_listening || _generation != generation)
            {
                return;
            }
            var now = _clock.GetTimestamp();
            if (_unknown.Count >= _options.MaxUnknownEntries)
            {
                foreach (var (h, until) in _unknown)
                {
                    if (until <= now)
                    {
                        _unknown.TryRemove(h, out _);
                    }
                }
                if (_unknown.Count >= _options.MaxUnknownEntries)
                {
                    // Full of live entries (a flood of distinct keys): start over rather than grow.
                    _unknown.Clear();
                }
            }
            _unknown[hash] = now + _unknownTtlTicks;
        }
    }

    /// <summary>Drops expired entries, then if still full the oldest tenth, so a full cache trims once per many inserts.</summary>
    private void Trim(long now)
    {
        foreach (var (hash, entry) in _entries)
        {
            if (entry.ExpiresAt <= now)
            {
                _entries.TryRemove(hash, out _);
            }
        }
        var excess = _entries.Count - _options.MaxEntries * 9 / 10;
        if (excess > 0)
        {
            foreach (var (hash, _) in _entries.OrderBy(e => e.Value.ExpiresAt).Take(excess).ToList())
            {
                _entries.TryRemove(hash, out _);
            }
        }
    }

    private readonly record struct Entry(ApiKeyRecord Key, long ExpiresAt);

    /// <summary>SHA-256 output is uniform, so its first bytes are already a good hash code.</summary>
    private sealed class HashComparer : IEqualityComparer<byte[]>
    {
        public static readonly HashComparer Instance = new();

        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(byte[] obj) => obj.Length >= 4 ? BitConverter.ToInt32(obj, 0) : obj.Length;
    }
}

/// <summary>
/// Holds one Postgres connection LISTENing on <see cref="ApiKeyCache.Channel"/> and evicts the notified team's keys;
/// reconnects with exponential backoff after any failure, the cache bypassed meanwhile.
/// </summary>
public sealed class ApiKeyCacheListener(NpgsqlDataSource db, ApiKeyCache cache, IOptions<ApiKeyCacheOptions> options, ILogger<ApiKeyCacheListener> logger)
    : BackgroundService
{
    /// <summary>The listener's application_name in pg_stat_activity.</summary>
    public const string ApplicationName = "aurous-auth-listener";

    private static readonly TimeSpan FirstRetry = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan LastRetry = TimeSpan.FromSeconds(30);

    private TimeSpan _retry = FirstRetry;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.Enabled)
        {
            return;
        }
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await ListenAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                logger.LogWarning(ex, "API-key cache listener lost its Postgres connection; keys are looked up in Postgres until it reconnects (next try in {Delay} ms).", _retry.TotalMilliseconds);
            }
            try
            {
                await Task.Delay(_retry, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            _retry = TimeSpan.FromTicks(Math.Min(_retry.Ticks * 2, LastRetry.Ticks));
        }
    }

    private async Task ListenAsync(CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        try
        {
            conn.Notification += (_, n) => cache.Invalidate(n.Payload);
            await using (var listen = new NpgsqlCommand($"LISTEN {ApiKeyCache.Channel}; SET application_name = '{ApplicationName}'", conn))
            {
                await listen.ExecuteNonQueryAsync(ct);
            }
            cache.OnListening();
            _retry = FirstRetry;
            logger.LogInformation("API-key cache listening on Postgres channel {Channel}.", ApiKeyCache.Channel);
            while (true)
            {
                if (!await conn.WaitAsync(options.Value.ListenerPingInterval, ct))
                {
                    // A connection that died without a FIN would otherwise wait forever, missing every notification.
                    await using var ping = new NpgsqlCommand("SELECT 1", conn) { CommandTimeout = 5 };
                    await ping.ExecuteNonQueryAsync(ct);
                }
            }
        }
        finally
        {
            cache.OnListenerLost();
            if (conn.State == System.Data.ConnectionState.Open)
            {
                // Leave the pool a plain connection again: the API's pool hands connections out as they were left (AccountsDataSource).
                try
                {
                    await using var reset = new NpgsqlCommand("UNLISTEN *; RESET application_name", conn) { CommandTimeout = 2 };
                    await reset.ExecuteNonQueryAsync(CancellationToken.None);
                }
                catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException)
                {
                    // Still listening: the pool must not hand this connection out again, so it is closed on return
                    // (with the pool's idle connections, which are simply opened again when needed).
                    logger.LogDebug(ex, "Could not reset the API-key cache listener's connection; discarding it.");
                    NpgsqlConnection.ClearPool(conn);
                }
            }
        }
    }
}
