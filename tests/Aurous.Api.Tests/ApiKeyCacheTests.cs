using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using Aurous.Accounts;
using Aurous.Api.Pipeline;
using Npgsql;

namespace Aurous.Api.Tests;

/// <summary>The cache against a lookup that counts its calls, with a clock the test moves.</summary>
public sealed class ApiKeyCacheUnitTests
{
    private readonly ManualClock _clock = new();
    private readonly Dictionary<string, ApiKeyRecord> _db = [];
    private int _lookups;

    private ApiKeyCache Cache(int maxEntries = 100) => new((hash, _) =>
    {
        Interlocked.Increment(ref _lookups);
        return Task.FromResult(_db.GetValueOrDefault(Convert.ToHexString(hash)));
    }, new ApiKeyCacheOptions { MaxEntries = maxEntries, TimeToLive = TimeSpan.FromSeconds(60) }, _clock);

    private byte[] AddKey(string teamId)
    {
        var hash = RandomNumberGenerator.GetBytes(32);
        _db[Convert.ToHexString(hash)] = new ApiKeyRecord("key_" + _db.Count, teamId, ["chat"], ApiKeyState.Active, null, "2026-05-15");
        return hash;
    }

    [Fact]
    public async Task Hits_are_served_only_while_the_listener_listens()
    {
        var cache = Cache();
        var hash = AddKey("team_a");

        // Not listening yet: every request goes to the database, and nothing is kept for later.
        (await cache.FindAsync(hash, default)).ShouldNotBeNull();
        (await cache.FindAsync(hash, default)).ShouldNotBeNull();
        _lookups.ShouldBe(2);
        cache.Count.ShouldBe(0);

        cache.OnListening();
        await cache.FindAsync(hash, default);
        await cache.FindAsync(hash, default);
        _lookups.ShouldBe(3);

        // The connection dropped: notifications may be missed from now on, so the cached entry must not be served.
        cache.OnListenerLost();
        cache.Count.ShouldBe(0);
        await cache.FindAsync(hash, default);
        await cache.FindAsync(hash, default);
        _lookups.ShouldBe(5);

        // Listening again: the cache starts empty, then serves hits.
        cache.OnListening();
        await cache.FindAsync(hash, default);
        await cache.FindAsync(hash, default);
        _lookups.ShouldBe(6);
    }

    [Fact]
    public async Task A_notification_evicts_that_teams_keys_and_a_star_evicts_all()
    {
        var cache = Cache();
        cache.OnListening();
        var a = AddKey("team_a");
        var b = AddKey("team_b");
        await cache.FindAsync(a, default);
        await cache.FindAsync(b, default);
        _lookups.ShouldBe(2);

        cache.Invalidate("team_a");
        await cache.FindAsync(a, default);
        await cache.FindAsync(b, default);
        _lookups.ShouldBe(3);

        cache.Invalidate("*");
        await cache.FindAsync(a, default);
        await cache.FindAsync(b, default);
        _lookups.ShouldBe(5);
    }

    [Fact]
    public async Task Unknown_keys_are_remembered_apart_until_any_change_is_notified()
    {
        var cache = Cache();
        cache.OnListening();
        var unknown = RandomNumberGenerator.GetBytes(32);
        (await cache.FindAsync(unknown, default)).ShouldBeNull();
        (await cache.FindAsync(unknown, default)).ShouldBeNull();
        _lookups.ShouldBe(1);
        cache.Count.ShouldBe(0); // never among the known keys
        cache.UnknownCount.ShouldBe(1);

        // Any change may have created it: the notification forgets every unknown hash.
        cache.Invalidate("team_other");
        (await cache.FindAsync(unknown, default)).ShouldBeNull();
        _lookups.ShouldBe(2);
    }

    [Fact]
    public async Task A_lookup_that_overlaps_an_invalidation_does_not_cache_what_it_read()
    {
        var read = new TaskCompletionSource<ApiKeyRecord?>();
        var stale = new ApiKeyRecord("key_1", "team_a", ["chat"], ApiKeyState.Active, null, "2026-05-15");
        var lookups = 0;
        var cache = new ApiKeyCache((_, _) => Interlocked.Increment(ref lookups) == 1 ? read.Task : Task.FromResult<ApiKeyRecord?>(stale),
            new ApiKeyCacheOptions(), _clock);
        cache.OnListening();
        var hash = RandomNumberGenerator.GetBytes(32);

        var first = cache.FindAsync(hash, default);
        cache.Invalidate("team_a"); // the key changed after the lookup read it
        read.SetResult(stale);
        (await first).ShouldBe(stale);

        cache.Count.ShouldBe(0);
        await cache.FindAsync(hash, default);
        lookups.ShouldBe(2);
    }

    [Fact]
    public async Task Entries_expire_after_the_ttl_and_the_size_stays_bounded()
    {
        var cache = Cache(maxEntries: 10);
        cache.OnListening();
        var hash = AddKey("team_a");
        await cache.FindAsync(hash, default);
        _clock.Advance(TimeSpan.FromSeconds(59));
        await cache.FindAsync(hash, default);
        _lookups.ShouldBe(1);
        _clock.Advance(TimeSpan.FromSeconds(2));
        await cache.FindAsync(hash, default);
        _lookups.ShouldBe(2);

        var keys = Enumerable.Range(0, 50).Select(_ => AddKey("team_b")).ToList();
        foreach (var key in keys)
        {
            _clock.Advance(TimeSpan.FromMilliseconds(10));
            await cache.FindAsync(key, default);
            cache.Count.ShouldBeLessThanOrEqualTo(10);
        }
        // The newest survive the trims; the oldest went first.
        _lookups = 0;
        await cache.FindAsync(keys[^1], default);
        _lookups.ShouldBe(0);
        await cache.FindAsync(keys[0], default);
        _lookups.ShouldBe(1);
    }

    private sealed class ManualClock : TimeProvider
    {
        private long _ticks = 1;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => _ticks;

        public void Advance(TimeSpan by) => _ticks += by.Ticks;
    }
}

/// <summary>The cache in the running API instances: Postgres notifications keep every instance's cached keys current.</summary>
[Collection(ApiCollection.Name)]
public sealed class ApiKeyCacheTests(ApiFixture fixture)
{
    private static readonly TimeSpan Promptly = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task A_cached_key_revoked_in_the_database_is_refused_on_every_instance_within_seconds()
    {
        await WaitForListenersAsync();
        var (_, key) = await fixture.System.CreateTeamAsync();
        var clients = ApiFixture.Instances.Select(i => fixture.System.CreateApiClient(key, i)).ToArray();
        foreach (var client in clients)
        {
            (await client.GetAsync("/v1/models")).StatusCode.ShouldBe(HttpStatusCode.OK);
            (await client.GetAsync("/v1/models")).StatusCode.ShouldBe(HttpStatusCode.OK);
        }

        await ExecuteAsync("UPDATE api_keys SET state = 'revoked', revoked_at = now() WHERE key_hash = @h", key);

        foreach (var client in clients)
        {
            await EventuallyAsync(async () => (await client.GetAsync("/v1/models")).StatusCode == HttpStatusCode.Unauthorized);
            await (await client.GetAsync("/v1/models")).ShouldBeErrorAsync(401, "authentication_error", "invalid_api_key");
            client.Dispose();
        }
    }

    [Fact]
    public async Task A_team_rate_limit_change_applies_to_its_cached_keys()
    {
        await WaitForListenersAsync();
        var (teamId, key) = await fixture.System.CreateTeamAsync();
        await fixture.System.SetLimitsAsync(teamId, rpm: 500, tpm: null);
        using var client = fixture.System.CreateApiClient(key);
        (await client.GetAsync("/v1/models")).Headers.GetValues("X-RateLimit-Limit").Single().ShouldBe("500");
        (await client.GetAsync("/v1/models")).Headers.GetValues("X-RateLimit-Limit").Single().ShouldBe("500");

        await fixture.System.SetLimitsAsync(teamId, rpm: 400, tpm: null);

        await EventuallyAsync(async () => (await client.GetAsync("/v1/models")).Headers.GetValues("X-RateLimit-Limit").Single() == "400");
    }

    [Fact]
    public async Task A_cached_rotated_key_still_stops_working_when_its_grace_period_ends()
    {
        await WaitForListenersAsync();
        var (_, key) = await fixture.System.CreateTeamAsync();
        using var client = fixture.System.CreateApiClient(key);
        await ExecuteAsync("UPDATE api_keys SET state = 'rotated', grace_until = now() + interval '3 seconds' WHERE key_hash = @h", key);
        var rotated = Stopwatch.StartNew();
        await EventuallyAsync(async () => (await client.GetAsync("/v1/models")).StatusCode == HttpStatusCode.OK);

        // No write happens from here on: the cached key must lapse by the clock alone.
        await EventuallyAsync(async () => (await client.GetAsync("/v1/models")).StatusCode == HttpStatusCode.Unauthorized, TimeSpan.FromSeconds(10));
        rotated.Elapsed.ShouldBeGreaterThan(TimeSpan.FromSeconds(2.5));
        await (await client.GetAsync("/v1/models")).ShouldBeErrorAsync(401, "authentication_error", "invalid_api_key");
    }

    [Fact]
    public async Task Many_parallel_requests_with_one_key_all_succeed()
    {
        var (teamId, key) = await fixture.System.CreateTeamAsync();
        await fixture.System.SetLimitsAsync(teamId, rpm: 100_000, tpm: null);
        var clients = ApiFixture.Instances.Select(i =>
        {
            var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 32 }) { BaseAddress = fixture.System.Endpoint(i) };
            client.DefaultRequestHeaders.Add("X-Api-Key", key);
            return client;
        }).ToArray();

        var statuses = await Task.WhenAll(Enumerable.Range(0, 600).Select(async i =>
        {
            using var response = await clients[i % clients.Length].GetAsync("/v1/models");
            return response.StatusCode;
        }));

        statuses.ShouldAllBe(s => s == HttpStatusCode.OK);
        foreach (var client in clients)
        {
            client.Dispose();
        }
    }

    [Fact]
    public async Task Keys_are_served_from_memory_until_a_notification_evicts_them()
    {
        await WaitForListenersAsync();
        var (teamId, key) = await CreateSettledTeamAsync();
        using var client = fixture.System.CreateApiClient(key);
        (await client.GetAsync("/v1/models")).StatusCode.ShouldBe(HttpStatusCode.OK);

        // A write that fires no trigger: the instance cannot know, so the cached key keeps working; that is the cache at work.
        await ExecuteWithoutTriggersAsync("UPDATE api_keys SET state = 'revoked', revoked_at = now() WHERE key_hash = @h", key);
        (await client.GetAsync("/v1/models")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await client.GetAsync("/v1/models")).StatusCode.ShouldBe(HttpStatusCode.OK);

        // The notification the triggers send evicts the team's keys.
        await using (var notify = fixture.System.Database.CreateCommand($"SELECT pg_notify('{ApiKeyCache.Channel}', @t)"))
        {
            notify.Parameters.AddWithValue("t", teamId);
            await notify.ExecuteNonQueryAsync();
        }
        await EventuallyAsync(async () => (await client.GetAsync("/v1/models")).StatusCode == HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task After_the_listener_loses_its_connection_the_cache_starts_empty()
    {
        var before = await WaitForListenersAsync();
        var (_, key) = await CreateSettledTeamAsync();
        using var client = fixture.System.CreateApiClient(key);
        (await client.GetAsync("/v1/models")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await client.GetAsync("/v1/models")).StatusCode.ShouldBe(HttpStatusCode.OK);

        await using (var kill = fixture.System.Database.CreateCommand("SELECT bool_and(pg_terminate_backend(pid, 5000)) FROM unnest(@pids) AS pid"))
        {
            kill.Parameters.AddWithValue("pids", before);
            ((bool)(await kill.ExecuteScalarAsync())!).ShouldBeTrue();
        }
        // Revoked while nobody listens, and without a notification: only dropping the cache on reconnect can reveal it.
        await ExecuteWithoutTriggersAsync("UPDATE api_keys SET state = 'revoked', revoked_at = now() WHERE key_hash = @h", key);

        var after = await WaitForListenersAsync();
        after.ShouldNotContain(pid => before.Contains(pid));
        await (await client.GetAsync("/v1/models")).ShouldBeErrorAsync(401, "authentication_error", "invalid_api_key");
    }

    /// <summary>
    /// A new team, once the notification of its key's creation has passed: a lookup that overlaps any notification
    /// does not cache what it read, so a test that needs its key cached waits for that first.
    /// </summary>
    private async Task<(string TeamId, string ApiKey)> CreateSettledTeamAsync()
    {
        var team = await fixture.System.CreateTeamAsync();
        await Task.Delay(200);
        return team;
    }

    /// <summary>Waits until every instance's listener is connected and listening; returns their backend pids.</summary>
    private async Task<int[]> WaitForListenersAsync()
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            var pids = new List<int>();
            await using (var cmd = fixture.System.Database.CreateCommand("SELECT pid FROM pg_stat_activity WHERE application_name = @n"))
            {
                cmd.Parameters.AddWithValue("n", ApiKeyCacheListener.ApplicationName);
                await using var reader = await cmd.ExecuteReaderAsync();
                while (await reader.ReadAsync())
                {
                    pids.Add(reader.GetInt32(0));
                }
            }
            if (pids.Count == ApiFixture.Instances.Length)
            {
                // application_name is set just after LISTEN; give the instance a moment to mark the cache listening.
                await Task.Delay(200);
                return [.. pids];
            }
            waited.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(30), $"{pids.Count} of {ApiFixture.Instances.Length} API-key cache listeners are connected");
            await Task.Delay(50);
        }
    }

    private static async Task EventuallyAsync(Func<Task<bool>> condition, TimeSpan? within = null)
    {
        var waited = Stopwatch.StartNew();
        while (!await condition())
        {
            waited.Elapsed.ShouldBeLessThan(within ?? Promptly, "the change did not reach the API in time");
            await Task.Delay(25);
        }
    }

    private async Task ExecuteAsync(string sql, string key)
    {
        await using var cmd = fixture.System.Database.CreateCommand(sql);
        cmd.Parameters.AddWithValue("h", ApiKeySecret.Hash(key));
        (await cmd.ExecuteNonQueryAsync()).ShouldBe(1);
    }

    /// <summary>Runs <paramref name="sql"/> with triggers off for this transaction only (replication role), so no notification is sent.</summary>
    private async Task ExecuteWithoutTriggersAsync(string sql, string key)
    {
        await using var conn = await fixture.System.Database.OpenConnectionAsync();
        await using var tx = await conn.BeginTransactionAsync();
        await using (var role = new NpgsqlCommand("SET LOCAL session_replication_role = replica", conn, tx))
        {
            await role.ExecuteNonQueryAsync();
        }
        await using (var cmd = new NpgsqlCommand(sql, conn, tx))
        {
            cmd.Parameters.AddWithValue("h", ApiKeySecret.Hash(key));
            (await cmd.ExecuteNonQueryAsync()).ShouldBe(1);
        }
        await tx.CommitAsync();
    }
}
