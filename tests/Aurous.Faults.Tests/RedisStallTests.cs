using Aurous.Testing;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Xunit.Abstractions;

namespace Aurous.Faults.Tests;

/// <summary>Redis frozen (SIGSTOP) for seconds: rate limits fall back to each instance, requests stay fast, /health says so.</summary>
[Collection(FaultCollection.Name)]
public sealed class RedisStallTests(FaultSystem fixture, ITestOutputHelper output)
{
    [Fact]
    public async Task A_stalled_redis_costs_requests_at_most_its_budget_limits_hold_per_instance_and_health_is_degraded()
    {
        var system = fixture.System;
        await system.EnsureHealthyAsync("inference-worker");
        var (paidTeam, paidKey) = await system.CreateTeamAsync(credits: 100m);
        await system.SetLimitsAsync(paidTeam, rpm: 1_000_000, tpm: 100_000_000);
        var (limitedTeam, limitedKey) = await system.CreateTeamAsync(credits: 1m);
        await system.SetLimitsAsync(limitedTeam, rpm: 10, tpm: null);
        using var paid = system.CreateApiClient(paidKey);
        using var limited = system.CreateApiClient(limitedKey);
        using var anonymous = system.CreateApiClient();
        var log = new OutcomeLog();
        var limitedLog = new OutcomeLog();
        (await log.SendAsync(paid, OutcomeLog.Embedding)).Status.ShouldBe(200);
        (await HealthAsync(anonymous)).Redis.ShouldBe("healthy");

        var stall = FaultScale.Pick(TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(10));
        var redis = await system.ProcessIdAsync("redis");
        var during = new List<Outcome>();
        var limitedOutcomes = new List<Outcome>();
        (string Status, string Redis, string? RateLimits, TimeSpan Took) health;
        TimeSpan thawedAt;
        Signals.Stop(redis);
        var stoppedAt = log.Now;
        try
        {
            // Paid requests keep being served; each pays at most the Redis budget, and only until the circuit opens.
            while (log.Now - stoppedAt < stall - TimeSpan.FromSeconds(1.5))
            {
                during.Add(await log.SendAsync(paid, OutcomeLog.Embedding));
            }
            // Limits do not fail open: this team's 10 requests a minute are enforced by the instance alone.
            for (var i = 0; i < 14; i++)
            {
                limitedOutcomes.Add(await limitedLog.SendAsync(limited, () => new HttpRequestMessage(HttpMethod.Get, "/v1/models")));
            }
            health = await HealthAsync(anonymous);
        }
        finally
        {
            Signals.Continue(redis);
            thawedAt = log.Now;
        }

        during.ShouldAllBe(o => o.Status == 200, OutcomeLog.Count(during));
        var slowest = during.Max(o => o.Took);
        // Two decisions (requests, then tokens) can each wait the budget before the circuit opens; then none waits.
        slowest.ShouldBeLessThan(2 * new Aurous.Api.Metering.RateLimitOptions().RedisBudget + TimeSpan.FromSeconds(0.5));
        limitedOutcomes.Take(10).ShouldAllBe(o => o.Status == 200);
        limitedOutcomes.Skip(10).ShouldAllBe(o => o.Status == 429 && o.Code == "rate_limit_exceeded" && o.RetryAfter != null);
        (health.Status, health.Redis).ShouldBe(("degraded", "degraded"));
        health.Took.ShouldBeLessThan(TimeSpan.FromSeconds(3));

        // Thawed: the next decisions go to Redis again, and /health is healthy once more.
        var recovery = Stopwatch.StartNew();
        while (true)
        {
            (await log.SendAsync(paid, OutcomeLog.Embedding)).Status.ShouldBe(200);
            var now = await HealthAsync(anonymous);
            if (now.Redis == "healthy" && now.RateLimits == "shared (redis)")
            {
                break;
            }
            recovery.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(15), $"redis still {now.Redis}, rate limits {now.RateLimits}");
            await Task.Delay(200);
        }
        var recovered = recovery.Elapsed;

        var books = await LedgerAudit.SettledAsync(system.Database, paidTeam);
        books.Receipts.ShouldBe(log.All.Count(o => o.Status == 200));
        FaultSummary.Record(output, system, $"SIGSTOP redis {stall.TotalSeconds:0} s: {during.Count} paid requests → {OutcomeLog.Count(during)}, slowest {slowest.TotalMilliseconds:0} ms; " +
            $"rpm 10 held locally ({OutcomeLog.Count(limitedOutcomes)}); /health {health.Status} in {health.Took.TotalMilliseconds:0} ms; " +
            $"back on redis {recovered.TotalSeconds:0.0} s after SIGCONT; {books}");
    }

    private static async Task<(string Status, string Redis, string? RateLimits, TimeSpan Took)> HealthAsync(HttpClient http)
    {
        var started = Stopwatch.StartNew();
        var body = await http.GetFromJsonAsync<JsonElement>("/health");
        var redis = body.GetProperty("checks").GetProperty("redis");
        var limits = redis.TryGetProperty("data", out var data) && data.ValueKind == JsonValueKind.Object && data.TryGetProperty("rate_limits", out var l) ? l.GetString() : null;
        return (body.GetProperty("status").GetString()!, redis.GetProperty("status").GetString()!, limits, started.Elapsed);
    }
}
