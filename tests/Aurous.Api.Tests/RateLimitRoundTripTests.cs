using System.Net;
using System.Text.Json;
using StackExchange.Redis;

namespace Aurous.Api.Tests;

/// <summary>
/// RPM and TPM judged in one Redis script call per metered request, counted from Redis's own INFO commandstats (the
/// API uses Redis for nothing but these scripts and health pings); the TPM settlement applied after the response; a
/// request ending before admission still counted; and the combined decision exact across three API instances.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class RateLimitRoundTripTests(ApiFixture fixture) : IAsyncLifetime
{
    private const string EmbedModel = "aurous-embed-vision-1.0";
    private const string ChatModel = "aurous-grow-2.0-pro";
    private ConnectionMultiplexer _redis = null!;

    public async Task InitializeAsync() => _redis = await ConnectionMultiplexer.ConnectAsync(fixture.System.ConnectionString("redis") + ",allowAdmin=true");

    public async Task DisposeAsync() => await _redis.DisposeAsync();

    private static StringContent Embedding(string model = EmbedModel) => EmbeddingsTests.Json($$"""{"model":"{{model}}","input":"Hello world"}""");

    /// <summary>Script runs (EVAL and EVALSHA) Redis has served so far.</summary>
    private async Task<long> ScriptCallsAsync()
    {
        var server = _redis.GetServer(_redis.GetEndPoints()[0]);
        var stats = (await server.InfoAsync("commandstats")).SelectMany(g => g).ToDictionary(p => p.Key, p => p.Value);
        return new[] { "cmdstat_eval", "cmdstat_evalsha" }.Sum(name =>
            stats.TryGetValue(name, out var value) ? long.Parse(value.Split(',')[0]["calls=".Length..]) : 0);
    }

    private static long Header(HttpResponseMessage response, string name) => long.Parse(response.Headers.GetValues(name).Single());

    [Fact]
    public async Task A_metered_embeddings_request_costs_one_rate_limit_call_before_its_response()
    {
        var (teamId, key) = await fixture.System.CreateTeamAsync();
        await fixture.System.SetLimitsAsync(teamId, rpm: 100_000, tpm: 10_000_000);
        using var client = fixture.System.CreateApiClient(key);
        (await client.PostAsync("/v1/embeddings", Embedding())).StatusCode.ShouldBe(HttpStatusCode.OK);
        await Task.Delay(500); // settlements of earlier requests, if any, land

        const int n = 20;
        var before = await ScriptCallsAsync();
        for (var i = 0; i < n; i++)
        {
            using var response = await client.PostAsync("/v1/embeddings", Embedding());
            response.StatusCode.ShouldBe(HttpStatusCode.OK);
            response.Headers.Contains("X-RateLimit-Remaining").ShouldBeTrue();
            response.Headers.Contains("X-RateLimit-TPM-Remaining").ShouldBeTrue();
        }
        // "Hello world" is estimated at its exact count, so nothing is settled afterwards: one call per request, in all.
        (await ScriptCallsAsync() - before).ShouldBe(n);
    }

    [Fact]
    public async Task A_chat_requests_token_settlement_lands_after_its_response_and_its_headers_show_it()
    {
        var (teamId, key) = await fixture.System.CreateTeamAsync(credits: 10m);
        // 600 tokens a minute refill 10 a second: the estimate's 200 unused tokens stand out against the refill.
        await fixture.System.SetLimitsAsync(teamId, rpm: 100_000, tpm: 600);
        using var client = fixture.System.CreateApiClient(key);

        using var response = await client.PostAsync("/v1/chat/completions", EmbeddingsTests.Json(
            $$"""{"model":"{{ChatModel}}","messages":[{"role":"user","content":"hi"}],"max_tokens":200,"seed":1,"stop":["e","a"," ","."]}"""));
        var answered = System.Diagnostics.Stopwatch.StartNew();
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var usage = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("usage");
        var actual = usage.GetProperty("prompt_tokens").GetInt64() + usage.GetProperty("completion_tokens").GetInt64();
        actual.ShouldBeLessThan(150);

        // The header is the bucket as judged at admission (full: the team's first request) with the settlement
        // applied: the real count taken, not the estimate.
        Header(response, "X-RateLimit-TPM-Remaining").ShouldBeInRange(600 - actual - 1, 600 - actual);
        // The bucket itself reaches that level shortly after; until then it holds what admission left (600 - estimate).
        var bucket = $"rl:{{{teamId}}}:tpm";
        double level;
        while ((level = (double)(await _redis.GetDatabase().HashGetAsync(bucket, "tokens"))) < 600 - actual - 1)
        {
            answered.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(5), $"the bucket holds {level} tokens, not about {600 - actual}");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task A_request_refused_before_admission_takes_one_rpm_unit_in_one_call_and_carries_both_header_sets()
    {
        var (teamId, key) = await fixture.System.CreateTeamAsync();
        await fixture.System.SetLimitsAsync(teamId, rpm: 30, tpm: 600);
        using var client = fixture.System.CreateApiClient(key);
        using var first = await client.PostAsync("/v1/embeddings", Embedding());
        first.StatusCode.ShouldBe(HttpStatusCode.OK);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await Task.Delay(300);

        var before = await ScriptCallsAsync();
        using var badJson = await client.PostAsync("/v1/embeddings", EmbeddingsTests.Json("""{"model":"""));
        await badJson.ShouldBeErrorAsync(400, "invalid_request", "invalid_json");
        using var unknownModel = await client.PostAsync("/v1/embeddings", Embedding("no-such-model"));
        ((int)unknownModel.StatusCode).ShouldBe(404);
        (await ScriptCallsAsync() - before).ShouldBe(2);

        var refill = (long)Math.Ceiling(clock.Elapsed.TotalSeconds / 2); // 30 a minute: one unit every 2 s
        foreach (var (response, taken) in new[] { (badJson, 1L), (unknownModel, 2L) })
        {
            Header(response, "X-RateLimit-Limit").ShouldBe(30);
            Header(response, "X-RateLimit-Remaining").ShouldBeInRange(Header(first, "X-RateLimit-Remaining") - taken, Header(first, "X-RateLimit-Remaining") - taken + refill);
            Header(response, "X-RateLimit-TPM-Limit").ShouldBe(600);
            Header(response, "X-RateLimit-TPM-Remaining").ShouldBeGreaterThanOrEqualTo(Header(first, "X-RateLimit-TPM-Remaining"));
            response.Headers.Contains("X-RateLimit-TPM-Reset").ShouldBeTrue();
        }
    }

    [Fact]
    public async Task A_hundred_and_twenty_parallel_requests_on_three_instances_admit_exactly_the_tighter_limit_and_a_refusal_takes_nothing()
    {
        // RPM the tighter limit (20), then TPM (20 requests of two tokens), then TPM with RPM to spare: a request
        // refused for tokens must not have taken a request unit.
        var teams = new[] { (Rpm: 20, Tpm: 1_000_000, Code: "rate_limit_exceeded"), (Rpm: 100_000, Tpm: 40, Code: "token_rate_limit_exceeded"), (Rpm: 60, Tpm: 40, Code: "token_rate_limit_exceeded") };
        foreach (var (rpm, tpm, code) in teams)
        {
            var (teamId, key) = await fixture.System.CreateTeamAsync();
            await fixture.System.SetLimitsAsync(teamId, rpm, tpm);
            var clients = ApiFixture.Instances.Select(i => fixture.System.CreateApiClient(key, i)).ToArray();

            var clock = System.Diagnostics.Stopwatch.StartNew();
            var responses = await Task.WhenAll(Enumerable.Range(0, 120).Select(i => clients[i % clients.Length].PostAsync("/v1/embeddings", Embedding())));
            var seconds = clock.Elapsed.TotalSeconds;

            var admitted = responses.Count(r => r.StatusCode == HttpStatusCode.OK);
            var limit = Math.Min(rpm, tpm / 2);
            var refill = (int)Math.Ceiling(seconds * Math.Min(rpm, tpm / 2.0) / 60);
            if (admitted < limit || admitted > limit + refill)
            {
                // Exact only while Redis judges: say whether an instance fell back to its local share meanwhile.
                var local = 0;
                foreach (var instance in ApiFixture.Instances)
                {
                    local += (await fixture.System.ResourceLogAsync(instance)).Count(l => l.Contains("rate limits are enforced per API instance"));
                }
                admitted.ShouldBeInRange(limit, limit + refill, $"rpm {rpm}, tpm {tpm}: {admitted} admitted in {seconds:0.0} s; local fallbacks logged: {local}");
            }
            foreach (var refused in responses.Where(r => r.StatusCode != HttpStatusCode.OK))
            {
                await refused.ShouldBeErrorAsync(429, "rate_limit_error", code);
            }
            if (rpm == 60)
            {
                using var after = await clients[0].GetAsync("/v1/balance");
                Header(after, "X-RateLimit-Remaining").ShouldBeInRange(60 - admitted - 1, 60 - admitted - 1 + (int)Math.Ceiling(clock.Elapsed.TotalSeconds));
            }
            foreach (var r in responses)
            {
                r.Dispose();
            }
            foreach (var c in clients)
            {
                c.Dispose();
            }
        }
    }
}
