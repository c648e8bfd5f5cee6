using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Aurous.Accounts;
using Aurous.Api.Extensions;
using Aurous.Api.Inference;
using Aurous.Api.Pipeline;
using Aurous.Inference.Contracts;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Aurous.Faults.Tests;

/// <summary>The fallbacks on their own, without a system: quick, and exact where the system tests can only bound.</summary>
public sealed class FallbackUnitTests
{
    [Fact]
    public void Local_rate_limits_enforce_the_limit_divided_by_the_instances_and_deny_all_or_nothing()
    {
        var limits = new LocalRateLimits(instances: 2);
        // 10 a minute across 2 instances: 5 here.
        var verdicts = Enumerable.Range(0, 7).Select(_ => limits.Judge(["rl:{t}:rpm"], [10, 1], force: false)[0]).ToArray();
        verdicts.Count(v => v.Allowed).ShouldBe(5);
        verdicts[^1].RetryAfterSeconds.ShouldBeGreaterThan(0);
        verdicts[^1].Limit.ShouldBe(10);

        // A cost above the bucket can never fit; a denied request takes from no bucket.
        var tooBig = limits.Judge(["rl:{u}:tpm"], [1000, 600], force: false)[0];
        (tooBig.Allowed, tooBig.RetryAfterSeconds).ShouldBe((false, -1));
        var pair = limits.Judge(["rl:{v}:rpm", "rl:{v}:tpm"], [100, 1, 1000, 0], force: false);
        pair.ShouldAllBe(s => s.Allowed);
        pair[1].Remaining.ShouldBe(500);

        // Settling takes what is there, never more.
        limits.Judge(["rl:{u}:tpm"], [1000, 400], force: false)[0].Remaining.ShouldBe(100);
        limits.Judge(["rl:{u}:tpm"], [1000, 300], force: true)[0].Remaining.ShouldBe(0);
    }

    [Fact]
    public void The_failure_limit_blocks_an_address_after_its_failures_and_no_other()
    {
        var limiter = new AuthFailureLimiter(new AuthFailureLimitOptions { PermitLimit = 3, Window = TimeSpan.FromMinutes(1) });
        var a = IPAddress.Parse("10.0.0.1");
        var b = IPAddress.Parse("10.0.0.2");
        for (var i = 0; i < 3; i++)
        {
            limiter.IsBlocked(a, out _).ShouldBeFalse();
            limiter.RecordFailure(a);
        }
        limiter.IsBlocked(a, out var retry).ShouldBeTrue();
        retry.ShouldBeGreaterThan(0);
        limiter.IsBlocked(b, out _).ShouldBeFalse();
    }

    [Fact]
    public async Task Unknown_hashes_are_remembered_while_listening_and_forgotten_on_any_change()
    {
        var db = new Dictionary<string, ApiKeyRecord>();
        var lookups = 0;
        var cache = new ApiKeyCache((hash, _) =>
        {
            lookups++;
            return Task.FromResult(db.GetValueOrDefault(Convert.ToHexString(hash)));
        }, new ApiKeyCacheOptions { MaxUnknownEntries = 2, UnknownTimeToLive = TimeSpan.FromSeconds(10) }, TimeProvider.System);
        var hash = RandomNumberGenerator.GetBytes(32);

        // Not listening: a change could be missed, so nothing is remembered.
        (await cache.FindAsync(hash, default)).ShouldBeNull();
        (await cache.FindAsync(hash, default)).ShouldBeNull();
        lookups.ShouldBe(2);

        cache.OnListening();
        for (var i = 0; i < 5; i++)
        {
            (await cache.FindAsync(hash, default)).ShouldBeNull();
        }
        lookups.ShouldBe(3);

        // The key is created: the notification (any team) forgets every unknown hash, so the key is found at once.
        db[Convert.ToHexString(hash)] = new ApiKeyRecord("key_1", "team_new", ["chat"], ApiKeyState.Active, null, "2026-05-15");
        cache.Invalidate("team_new");
        (await cache.FindAsync(hash, default)).ShouldNotBeNull();

        // Bounded: distinct unknown hashes never grow it past its size.
        for (var i = 0; i < 10; i++)
        {
            await cache.FindAsync(RandomNumberGenerator.GetBytes(32), default);
        }
        cache.UnknownCount.ShouldBeLessThanOrEqualTo(2);
    }

    [Fact]
    public async Task A_hung_worker_is_declared_down_by_missed_pings_and_calls_in_flight_end_with_503()
    {
        // Accepts connections and never answers, as a frozen process's socket does.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start(backlog: 100);
        var accepted = new List<Socket>();
        _ = Task.Run(async () =>
        {
            while (true)
            {
                accepted.Add(await listener.AcceptSocketAsync());
            }
        });
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            [InternalApiKeyOptions.ConfigurationKey] = "unit-test-internal-key",
            ["InferenceWorker:LivenessInterval"] = "00:00:00.200",
            ["InferenceWorker:LivenessTimeout"] = "00:00:00.200",
        }).Build());
        services.AddLogging();
        services.AddHttpClient(ApiServiceExtensions.InferenceWorkerClient, c => c.BaseAddress = new Uri($"http://127.0.0.1:{port}"))
            .AddInferenceWorkerTimeouts().AddInternalApiKey();
        services.AddSingleton<InferenceWorkerClient>();
        await using var provider = services.BuildServiceProvider();
        var liveness = provider.GetRequiredService<WorkerLiveness>();
        var client = provider.GetRequiredService<InferenceWorkerClient>();

        // The response timeout is a minute; the liveness monitor ends the call long before.
        var stopwatch = Stopwatch.StartNew();
        var call = client.StartChatAsync(new InternalChatRequest { Model = "m", PromptTokenIds = [1], MaxTokens = 4, Stop = [] }, CancellationToken.None);
        await liveness.StartAsync(CancellationToken.None);
        var (stream, error) = await call.WaitAsync(TimeSpan.FromSeconds(10));
        stopwatch.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(3));
        stream.ShouldBeNull();
        (error!.Status, error.Code).ShouldBe((503, "model_unavailable"));
        liveness.IsDown.ShouldBeTrue();

        // While down, a new call fails without waiting at all.
        stopwatch.Restart();
        var (_, again) = await client.EmbedAsync(new InternalEmbeddingRequest { Model = "m", Parts = [new() { Type = "text", TokenIds = [1] }] }, CancellationToken.None);
        (again!.Status, again.Code).ShouldBe((503, "model_unavailable"));
        stopwatch.Elapsed.ShouldBeLessThan(TimeSpan.FromMilliseconds(100));
        await liveness.StopAsync(CancellationToken.None);
        listener.Stop();
        accepted.ForEach(s => s.Dispose());
    }
}
