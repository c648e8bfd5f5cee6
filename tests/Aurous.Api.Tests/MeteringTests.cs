using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Aurous.Accounts;

namespace Aurous.Api.Tests;

[Collection(ApiCollection.Name)]
public sealed class MeteringTests(ApiFixture fixture)
{
    private const string Model = "aurous-embed-vision-1.0";
    private static readonly decimal CostOfHelloWorld = 2 * 0.04m / 1_000_000m;

    private static StringContent Body(string text = "Hello world") => EmbeddingsTests.Json($$"""{"model":"{{Model}}","input":"{{text}}"}""");

    private static HttpClient Client(Uri baseAddress, string key)
    {
        var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64 }) { BaseAddress = baseAddress, Timeout = TimeSpan.FromMinutes(2) };
        client.DefaultRequestHeaders.Add("X-Api-Key", key);
        return client;
    }

    [Fact]
    public async Task A_thousand_parallel_requests_against_a_balance_for_five_admit_exactly_five()
    {
        var (teamId, key) = await fixture.System.CreateTeamAsync(credits: 5 * CostOfHelloWorld);
        await fixture.System.SetLimitsAsync(teamId, rpm: 100_000, tpm: 10_000_000);
        var clients = ApiFixture.Instances.Select(i => Client(fixture.System.Endpoint(i), key)).ToArray();

        var statuses = await Task.WhenAll(Enumerable.Range(0, 1000).Select(async i =>
        {
            using var response = await clients[i % clients.Length].PostAsync("/v1/embeddings", Body());
            if (response.StatusCode == HttpStatusCode.PaymentRequired)
            {
                await response.ShouldBeErrorAsync(402, "insufficient_credits", "insufficient_credits");
            }
            return response.StatusCode;
        }));

        statuses.Count(s => s == HttpStatusCode.OK).ShouldBe(5);
        statuses.Count(s => s == HttpStatusCode.PaymentRequired).ShouldBe(995);
        var balance = await new Accounts.Ledger(fixture.System.Database).GetBalanceAsync(teamId);
        balance.Credits.ShouldBe(0m);
        balance.HeldCredits.ShouldBe(0m);
        await Ledger.ShouldReconcileAsync(fixture.System.Database, teamId, expectedReceipts: 5);
    }

    [Fact]
    public async Task A_busy_team_is_served_from_leases_on_every_instance_and_its_books_reconcile()
    {
        var credits = 1_000_000 * CostOfHelloWorld;
        var (teamId, key) = await fixture.System.CreateTeamAsync(credits: credits);
        await fixture.System.SetLimitsAsync(teamId, rpm: 100_000, tpm: 10_000_000);
        var clients = ApiFixture.Instances.Select(i => Client(fixture.System.Endpoint(i), key)).ToArray();

        var charged = await Task.WhenAll(Enumerable.Range(0, 900).Select(async i =>
        {
            using var response = await clients[i % clients.Length].PostAsync("/v1/embeddings", Body());
            response.StatusCode.ShouldBe(HttpStatusCode.OK);
            using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            return body.RootElement.GetProperty("usage").GetProperty("credits_charged").GetDecimal();
        }));

        charged.ShouldAllBe(c => c == CostOfHelloWorld);
        await using (var cmd = fixture.System.Database.CreateCommand("""
            SELECT count(DISTINCT e.lease_id), count(DISTINCT h.request_id)
            FROM ledger_entries e JOIN credit_holds h ON h.id = e.lease_id WHERE e.team_id = $1 AND e.kind = 'charge'
            """))
        {
            cmd.Parameters.Add(new() { Value = teamId });
            await using var r = await cmd.ExecuteReaderAsync();
            await r.ReadAsync();
            r.GetInt64(0).ShouldBeGreaterThan(0, "charges are spent from leases");
            r.GetInt64(1).ShouldBe(3, "each instance leases its own slice");
        }
        // Once the team is quiet, every instance closes its lease: nothing stays held, and the books reconcile.
        var books = await Aurous.Testing.LedgerAudit.SettledAsync(fixture.System.Database, teamId);
        books.Held.ShouldBe(0m);
        books.Charges.ShouldBe(900);
        books.Credits.ShouldBe(credits - 900 * CostOfHelloWorld);
        await Ledger.ShouldReconcileAsync(fixture.System.Database, teamId, expectedReceipts: 900);
    }

    [Fact]
    public async Task A_replay_returns_the_same_bytes_and_charges_once()
    {
        var (teamId, key) = await fixture.System.CreateTeamAsync();
        using var client = Client(fixture.System.Endpoint("api"), key);

        async Task<HttpResponseMessage> Send(string idempotencyKey, string text = "Hello world", string path = "/v1/embeddings")
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = Body(text) };
            request.Headers.Add("Idempotency-Key", idempotencyKey);
            return await client.SendAsync(request);
        }

        using var first = await Send("key-1");
        // The same route spelled differently (routing ignores case and a trailing slash) is the same request.
        using var second = await Send("key-1", path: "/v1/Embeddings/");
        first.StatusCode.ShouldBe(HttpStatusCode.OK);
        second.StatusCode.ShouldBe(HttpStatusCode.OK);
        first.Headers.Contains("Aurous-Idempotent-Replayed").ShouldBeFalse();
        second.Headers.GetValues("Aurous-Idempotent-Replayed").Single().ShouldBe("true");
        (await second.Content.ReadAsByteArrayAsync()).ShouldBe(await first.Content.ReadAsByteArrayAsync());
        second.Headers.GetValues("Aurous-Request-Id").Single().ShouldNotBe(first.Headers.GetValues("Aurous-Request-Id").Single());

        // Same key, different body: refused. The key is per team: another team may use it freely.
        using var conflict = await Send("key-1", "Something else");
        await conflict.ShouldBeErrorAsync(409, "idempotency_error", "idempotency_key_in_use");
        var (_, otherKey) = await fixture.System.CreateTeamAsync();
        using var other = Client(fixture.System.Endpoint("api"), otherKey);
        using var otherRequest = new HttpRequestMessage(HttpMethod.Post, "/v1/embeddings") { Content = Body() };
        otherRequest.Headers.Add("Idempotency-Key", "key-1");
        using var otherResponse = await other.SendAsync(otherRequest);
        otherResponse.StatusCode.ShouldBe(HttpStatusCode.OK);
        otherResponse.Headers.Contains("Aurous-Idempotent-Replayed").ShouldBeFalse();

        await Ledger.ShouldReconcileAsync(fixture.System.Database, teamId, expectedReceipts: 1);
    }

    [Fact]
    public async Task A_hundred_parallel_requests_with_one_key_execute_once_and_charge_once()
    {
        var (teamId, key) = await fixture.System.CreateTeamAsync();
        var clients = ApiFixture.Instances.Select(i => Client(fixture.System.Endpoint(i), key)).ToArray();

        var results = await Task.WhenAll(Enumerable.Range(0, 100).Select(async i =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/embeddings") { Content = Body() };
            request.Headers.Add("Idempotency-Key", "same-key-for-all");
            using var response = await clients[i % clients.Length].SendAsync(request);
            var replayed = response.Headers.Contains("Aurous-Idempotent-Replayed");
            if (response.StatusCode == HttpStatusCode.Conflict)
            {
                await response.ShouldBeErrorAsync(409, "idempotency_error", "idempotency_request_in_progress");
                response.Headers.RetryAfter.ShouldNotBeNull();
            }
            return (response.StatusCode, replayed, Body: response.StatusCode == HttpStatusCode.OK ? await response.Content.ReadAsStringAsync() : null);
        }));

        results.ShouldAllBe(r => r.StatusCode == HttpStatusCode.OK || r.StatusCode == HttpStatusCode.Conflict);
        results.Count(r => r.StatusCode == HttpStatusCode.OK && !r.replayed).ShouldBe(1);
        results.Where(r => r.Body is not null).Select(r => r.Body).Distinct().Count().ShouldBe(1);
        await Ledger.ShouldReconcileAsync(fixture.System.Database, teamId, expectedReceipts: 1);
    }

    [Fact]
    public async Task Failed_responses_are_not_stored_so_the_key_can_be_retried()
    {
        var (teamId, key) = await fixture.System.CreateTeamAsync(credits: 0m);
        using var client = Client(fixture.System.Endpoint("api"), key);
        async Task<HttpResponseMessage> Send()
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/embeddings") { Content = Body() };
            request.Headers.Add("Idempotency-Key", "retry-me");
            return await client.SendAsync(request);
        }

        using var broke = await Send();
        await broke.ShouldBeErrorAsync(402, "insufficient_credits", "insufficient_credits");

        await new Accounts.Ledger(fixture.System.Database).GrantAsync(teamId, 1m, "purchase", "top-up");
        using var retried = await Send();
        retried.StatusCode.ShouldBe(HttpStatusCode.OK);
        retried.Headers.Contains("Aurous-Idempotent-Replayed").ShouldBeFalse();
        await Ledger.ShouldReconcileAsync(fixture.System.Database, teamId, expectedReceipts: 1);
    }

    [Fact]
    public async Task Idempotency_keys_longer_than_255_characters_are_rejected()
    {
        var (_, key) = await fixture.System.CreateTeamAsync();
        using var client = Client(fixture.System.Endpoint("api"), key);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/embeddings") { Content = Body() };
        request.Headers.Add("Idempotency-Key", new string('k', 256));
        await (await client.SendAsync(request)).ShouldBeErrorAsync(400, "invalid_request", "invalid_idempotency_key");
    }

    [Fact]
    public async Task The_rpm_limit_is_exact_across_three_api_instances()
    {
        var (teamId, key) = await fixture.System.CreateTeamAsync();
        await fixture.System.SetLimitsAsync(teamId, rpm: 30, tpm: null);
        var clients = ApiFixture.Instances.Select(i => Client(fixture.System.Endpoint(i), key)).ToArray();

        var started = DateTime.UtcNow;
        var responses = await Task.WhenAll(Enumerable.Range(0, 120).Select(i => clients[i % clients.Length].GetAsync("/v1/balance")));
        var elapsed = DateTime.UtcNow - started;

        var ok = responses.Count(r => r.StatusCode == HttpStatusCode.OK);
        // 30 at once, plus what refilled (30 per minute) while the burst ran: never more.
        ok.ShouldBeGreaterThanOrEqualTo(30);
        ok.ShouldBeLessThanOrEqualTo(30 + (int)Math.Ceiling(elapsed.TotalSeconds * 0.5));
        var limited = responses.First(r => r.StatusCode == HttpStatusCode.TooManyRequests);
        await limited.ShouldBeErrorAsync(429, "rate_limit_error", "rate_limit_exceeded");
        int.Parse(limited.Headers.RetryAfter!.ToString()).ShouldBeGreaterThanOrEqualTo(1);
        limited.Headers.GetValues("X-RateLimit-Limit").Single().ShouldBe("30");
        limited.Headers.GetValues("X-RateLimit-Remaining").Single().ShouldBe("0");
        foreach (var r in responses)
        {
            r.Dispose();
        }
    }

    [Fact]
    public async Task Rate_limit_headers_count_down()
    {
        var (teamId, key) = await fixture.System.CreateTeamAsync();
        // Small limits refill slowly (RPM one every 2 s, TPM one a second), so the two requests' costs show.
        await fixture.System.SetLimitsAsync(teamId, rpm: 30, tpm: 60);
        using var client = Client(fixture.System.Endpoint("api"), key);

        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var first = await client.PostAsync("/v1/embeddings", Body());
        using var second = await client.PostAsync("/v1/embeddings", Body());
        var refill = (int)Math.Ceiling(clock.Elapsed.TotalSeconds); // 60 per minute = one a second

        first.Headers.GetValues("X-RateLimit-Limit").Single().ShouldBe("30");
        int.Parse(second.Headers.GetValues("X-RateLimit-Remaining").Single())
            .ShouldBeLessThan(int.Parse(first.Headers.GetValues("X-RateLimit-Remaining").Single()));
        first.Headers.GetValues("X-RateLimit-TPM-Limit").Single().ShouldBe("60");
        int.Parse(first.Headers.GetValues("X-RateLimit-TPM-Remaining").Single()).ShouldBeInRange(58, 58 + refill);
        int.Parse(second.Headers.GetValues("X-RateLimit-TPM-Remaining").Single()).ShouldBeInRange(56, 56 + refill);
        int.Parse(second.Headers.GetValues("X-RateLimit-TPM-Reset").Single()).ShouldBeGreaterThanOrEqualTo(1);
    }

    [Fact]
    public async Task The_tpm_limit_refuses_what_does_not_fit()
    {
        var (teamId, key) = await fixture.System.CreateTeamAsync();
        await fixture.System.SetLimitsAsync(teamId, rpm: null, tpm: 5);
        using var client = Client(fixture.System.Endpoint("api"), key);

        // Two tokens each: two fit in a bucket of five, the third does not.
        (await client.PostAsync("/v1/embeddings", Body())).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await client.PostAsync("/v1/embeddings", Body())).StatusCode.ShouldBe(HttpStatusCode.OK);
        using var limited = await client.PostAsync("/v1/embeddings", Body());
        await limited.ShouldBeErrorAsync(429, "rate_limit_error", "token_rate_limit_exceeded");
        limited.Headers.RetryAfter.ShouldNotBeNull();

        // More tokens than the whole limit can never fit.
        await (await client.PostAsync("/v1/embeddings", Body("one two three four five six seven"))).ShouldBeErrorAsync(429, "rate_limit_error", "request_exceeds_tpm_limit");
        (await new Accounts.Ledger(fixture.System.Database).GetBalanceAsync(teamId)).HeldCredits.ShouldBe(0m);
    }

    [Fact]
    public async Task Clients_that_hang_up_mid_request_leak_no_hold_and_pay_only_with_a_receipt()
    {
        var (teamId, key) = await fixture.System.CreateTeamAsync(credits: 10m);
        using var client = Client(fixture.System.Endpoint("api"), key);
        var image = System.Text.Json.JsonSerializer.Serialize(new
        {
            model = Model,
            input = new object[] { new { type = "text", text = "a cat" }, new { type = "image_url", image_url = new { url = TestMedia.PngDataUrl } } },
        });

        var completed = 0;
        await Task.WhenAll(Enumerable.Range(0, 40).Select(async i =>
        {
            // Hang up at different points: before admission, during the hold, during inference, after capture.
            using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(i % 20));
            try
            {
                using var response = await client.PostAsync("/v1/embeddings", EmbeddingsTests.Json(image), cts.Token);
                if (response.IsSuccessStatusCode)
                {
                    Interlocked.Increment(ref completed);
                }
            }
            catch (OperationCanceledException)
            {
            }
        }));

        var deadline = DateTime.UtcNow.AddSeconds(15);
        Accounts.Balance balance;
        while ((balance = await new Accounts.Ledger(fixture.System.Database).GetBalanceAsync(teamId)).HeldCredits != 0m && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }
        balance.HeldCredits.ShouldBe(0m, "every hold was captured or released");
        var receipts = await Ledger.ShouldReconcileAsync(fixture.System.Database, teamId, expectedReceipts: null);
        receipts.ShouldBeGreaterThanOrEqualTo(completed);
        receipts.ShouldBeLessThanOrEqualTo(40);
    }

    [Fact]
    public async Task The_sweeper_statement_releases_holds_of_crashed_requests()
    {
        var (teamId, _) = await fixture.System.CreateTeamAsync(credits: 10m);
        var holds = new CreditHolds(fixture.System.Database);
        var stale = (await holds.TryPlaceAsync(teamId, "req_crashed", "embeddings", Model, 7m))!;
        var fresh = (await holds.TryPlaceAsync(teamId, "req_running", "embeddings", Model, 1m))!;
        await using (var cmd = fixture.System.Database.CreateCommand("UPDATE credit_holds SET created_at = now() - interval '1 hour' WHERE id = @id"))
        {
            cmd.Parameters.AddWithValue("id", stale);
            await cmd.ExecuteNonQueryAsync();
        }

        (await holds.ExpireStaleAsync(TimeSpan.FromMinutes(15))).ShouldBeGreaterThanOrEqualTo(1);

        var balance = await new Accounts.Ledger(fixture.System.Database).GetBalanceAsync(teamId);
        balance.HeldCredits.ShouldBe(1m);
        balance.AvailableCredits.ShouldBe(9m);
        (await holds.ReleaseAsync(stale)).ShouldBeFalse("an expired hold cannot be released twice");
        (await holds.ReleaseAsync(fresh)).ShouldBeTrue();
        await Ledger.ShouldReconcileAsync(fixture.System.Database, teamId, expectedReceipts: 0);
    }

    [Fact]
    public async Task No_statement_can_overdraw_a_team()
    {
        var (teamId, _) = await fixture.System.CreateTeamAsync(credits: 1m);
        var holds = new CreditHolds(fixture.System.Database);
        var results = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => holds.TryPlaceAsync(teamId, "req_x", "embeddings", Model, 0.1m)));
        results.Count(r => r is not null).ShouldBe(10);
        (await new Accounts.Ledger(fixture.System.Database).GetBalanceAsync(teamId)).AvailableCredits.ShouldBe(0m);
    }
}
