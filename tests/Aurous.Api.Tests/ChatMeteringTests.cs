using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Aurous.Accounts;
using Aurous.Api.Metering;
using Aurous.Testing;
using Microsoft.Extensions.Options;

namespace Aurous.Api.Tests;

/// <summary>Chat on the metering pipeline over real HTTP: idempotent replays, lease takeover, hang-ups at the end, concurrency.</summary>
[Collection(ApiCollection.Name)]
public sealed class ChatMeteringTests(ApiFixture fixture)
{
    private const string Model = "aurous-grow-2.0-pro";

    private static string ChatBody(string content = "Say hello.", int maxTokens = 8, bool stream = false) =>
        $$"""{"model":"{{Model}}","messages":[{"role":"user","content":"{{content}}"}],"max_tokens":{{maxTokens}},"seed":5,"stream":{{(stream ? "true" : "false")}}}""";

    private static HttpClient Client(Uri baseAddress, string key)
    {
        var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256 }) { BaseAddress = baseAddress, Timeout = TimeSpan.FromMinutes(3) };
        client.DefaultRequestHeaders.Add("X-Api-Key", key);
        return client;
    }

    private static async Task<HttpResponseMessage> PostAsync(HttpClient client, string body, string? idempotencyKey = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        if (idempotencyKey is not null)
        {
            request.Headers.Add("Idempotency-Key", idempotencyKey);
        }
        return await client.SendAsync(request);
    }

    private async Task<long> ScalarAsync(string sql, string parameter)
    {
        await using var cmd = fixture.System.Database.CreateCommand(sql);
        cmd.Parameters.AddWithValue("p", parameter);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task An_idempotent_chat_replays_the_same_bytes_and_id_and_is_charged_once()
    {
        var (teamId, key) = await fixture.System.CreateTeamAsync(credits: 1m);
        using var client = Client(fixture.System.Endpoint("api"), key);
        using var other = Client(fixture.System.Endpoint("api-2"), key);

        using var first = await PostAsync(client, ChatBody(), "chat-replay");
        // The same request re-serialised (keys reordered, spaces) on another API instance is the same request.
        var reordered = $$"""{ "stream": false, "seed": 5, "max_tokens": 8, "messages": [ { "content": "Say hello.", "role": "user" } ], "model": "{{Model}}" }""";
        using var second = await PostAsync(other, reordered, "chat-replay");

        first.StatusCode.ShouldBe(HttpStatusCode.OK);
        second.StatusCode.ShouldBe(HttpStatusCode.OK);
        second.Headers.GetValues("Aurous-Idempotent-Replayed").Single().ShouldBe("true");
        var bytes = await first.Content.ReadAsByteArrayAsync();
        (await second.Content.ReadAsByteArrayAsync()).ShouldBe(bytes);
        var completion = JsonDocument.Parse(bytes).RootElement;
        completion.GetProperty("id").GetString().ShouldStartWith("cmp_");
        var charged = completion.GetProperty("usage").GetProperty("credits_charged").GetDecimal();
        charged.ShouldBeGreaterThan(0m);

        using var conflict = await PostAsync(client, ChatBody("Say goodbye."), "chat-replay");
        await conflict.ShouldBeErrorAsync(409, "idempotency_error", "idempotency_key_in_use");

        var audit = (await LedgerAudit.RunAsync(fixture.System.Database, teamId)).ShouldBeClean();
        audit.Charges.ShouldBe(1);
        audit.Charged.ShouldBe(charged);
        audit.Credits.ShouldBe(1m - charged);
    }

    [Fact]
    public async Task A_retry_takes_over_a_key_whose_owner_stopped_renewing_and_the_owner_cannot_charge()
    {
        var (teamId, key) = await fixture.System.CreateTeamAsync(credits: 1m);
        var db = fixture.System.Database;
        var body = ChatBody("Take over.");
        var idempotency = new IdempotencyStore(db, Options.Create(new MeteringOptions()));
        var holds = new CreditHolds(db);

        // The owner: claimed the key and placed its hold, then its API instance died (nothing renews its lease).
        const string owner = "req_owner_that_died";
        var fingerprint = IdempotencyStore.Fingerprint("chat.completions", JsonDocument.Parse(body).RootElement);
        (await idempotency.ClaimAsync(teamId, "takeover", fingerprint, owner, CancellationToken.None)).Outcome.ShouldBe(IdempotencyStore.Outcome.Acquired);
        var ownerHold = (await holds.TryPlaceAsync(teamId, owner, "chat.completions", Model, 0.01m)).ShouldNotBeNull();

        using var client = Client(fixture.System.Endpoint("api"), key);
        // While its lease runs, a retry waits.
        using (var early = await PostAsync(client, body, "takeover"))
        {
            await early.ShouldBeErrorAsync(409, "idempotency_error", "idempotency_request_in_progress");
        }
        await ScalarAsync("WITH u AS (UPDATE idempotency_records SET lease_until = now() - interval '1 second' WHERE key = 'takeover' AND team_id = @p RETURNING 1) SELECT count(*) FROM u", teamId);

        using var retry = await PostAsync(client, body, "takeover");
        retry.StatusCode.ShouldBe(HttpStatusCode.OK);
        var retryBytes = await retry.Content.ReadAsByteArrayAsync();

        // The owner finishes late: its capture is refused (it no longer owns the key), so it releases its hold.
        var late = await holds.CaptureAsync(
            new Capture(ownerHold, teamId, owner, "key_x", "chat.completions", Model, 0.001m, "{}", "{}", "{}", null),
            new IdempotentResponse("takeover", 200, "application/json", Encoding.UTF8.GetBytes("{\"late\":true}")));
        late.ShouldBeNull();
        (await holds.ReleaseAsync(ownerHold)).ShouldBeTrue();

        using var replay = await PostAsync(client, body, "takeover");
        replay.Headers.GetValues("Aurous-Idempotent-Replayed").Single().ShouldBe("true");
        (await replay.Content.ReadAsByteArrayAsync()).ShouldBe(retryBytes);
        var audit = (await LedgerAudit.RunAsync(db, teamId)).ShouldBeClean();
        audit.Charges.ShouldBe(1);
        (await ScalarAsync("SELECT count(*) FROM ledger_entries WHERE request_id = @p", owner)).ShouldBe(0);
    }

    [Fact]
    public async Task Clients_that_hang_up_during_the_final_chunks_are_charged_exactly_once()
    {
        var (teamId, key) = await fixture.System.CreateTeamAsync(credits: 1m);
        using var client = Client(fixture.System.Endpoint("api"), key);

        // Hang up at each point of the ending: on the finish_reason chunk, on the usage chunk, after [DONE].
        var requestIds = await Task.WhenAll(Enumerable.Range(0, 12).Select(async i =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
            {
                Content = new StringContent(ChatBody($"Story {i}.", maxTokens: 12, stream: true), Encoding.UTF8, "application/json"),
            };
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            response.StatusCode.ShouldBe(HttpStatusCode.OK);
            var requestId = response.Headers.GetValues("Aurous-Request-Id").Single();
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            while (await reader.ReadLineAsync() is { } line)
            {
                var last = (i % 3) switch
                {
                    0 => line.Contains("\"finish_reason\":\"", StringComparison.Ordinal),
                    1 => line.Contains("\"usage\"", StringComparison.Ordinal),
                    _ => line == "data: [DONE]",
                };
                if (last)
                {
                    break; // disposing the response now closes the connection
                }
            }
            return requestId;
        }));

        var deadline = DateTime.UtcNow.AddSeconds(20);
        LedgerAuditResult audit;
        while (!(audit = await LedgerAudit.RunAsync(fixture.System.Database, teamId)).IsClean && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
        }
        audit.ShouldBeClean();
        foreach (var requestId in requestIds)
        {
            (await ScalarAsync("SELECT count(*) FROM ledger_entries WHERE kind = 'charge' AND request_id = @p", requestId)).ShouldBe(1, requestId);
        }
        audit.Charges.ShouldBe(12);
        // Nothing was captured twice or found settled at capture.
        fixture.System.Log.Where(l => requestIds.Any(l.Contains) && l.Contains("no longer open", StringComparison.Ordinal)).ShouldBeEmpty();
    }

    [Fact]
    public async Task Fifty_parallel_idempotent_chats_with_one_key_run_and_charge_once()
    {
        var (teamId, key) = await fixture.System.CreateTeamAsync(credits: 1m);
        await fixture.System.SetLimitsAsync(teamId, rpm: 100_000, tpm: 10_000_000);
        var clients = ApiFixture.Instances.Select(i => Client(fixture.System.Endpoint(i), key)).ToArray();

        var results = await Task.WhenAll(Enumerable.Range(0, 50).Select(async i =>
        {
            using var response = await PostAsync(clients[i % clients.Length], ChatBody("Once only.", maxTokens: 16), "fifty");
            if (response.StatusCode == HttpStatusCode.Conflict)
            {
                await response.ShouldBeErrorAsync(409, "idempotency_error", "idempotency_request_in_progress");
                return (response.StatusCode, Replayed: false, Body: (string?)null);
            }
            return (response.StatusCode, Replayed: response.Headers.Contains("Aurous-Idempotent-Replayed"), Body: await response.Content.ReadAsStringAsync());
        }));

        results.ShouldAllBe(r => r.StatusCode == HttpStatusCode.OK || r.StatusCode == HttpStatusCode.Conflict);
        results.Count(r => r.StatusCode == HttpStatusCode.OK && !r.Replayed).ShouldBe(1);
        results.Where(r => r.Body is not null).Select(r => r.Body).Distinct().Count().ShouldBe(1);
        var audit = (await LedgerAudit.RunAsync(fixture.System.Database, teamId)).ShouldBeClean();
        audit.Charges.ShouldBe(1);
    }

    [Fact]
    public async Task Two_hundred_parallel_chats_against_a_small_balance_never_overdraw()
    {
        // Room for a few holds at a time: most requests are refused, the admitted ones are charged exactly.
        var hold = 30 * 0.21m / 1_000_000m + 8 * 0.84m / 1_000_000m;
        var (teamId, key) = await fixture.System.CreateTeamAsync(credits: 6 * hold);
        await fixture.System.SetLimitsAsync(teamId, rpm: 100_000, tpm: 10_000_000);
        var clients = ApiFixture.Instances.Select(i => Client(fixture.System.Endpoint(i), key)).ToArray();

        var results = await Task.WhenAll(Enumerable.Range(0, 200).Select(async i =>
        {
            using var response = await PostAsync(clients[i % clients.Length], ChatBody($"Count {i}.", maxTokens: 8, stream: i % 2 == 0));
            if (response.StatusCode == HttpStatusCode.PaymentRequired)
            {
                await response.ShouldBeErrorAsync(402, "insufficient_credits", "insufficient_credits");
                return (response.StatusCode, Charged: 0m);
            }
            response.StatusCode.ShouldBe(HttpStatusCode.OK);
            var text = await response.Content.ReadAsStringAsync();
            var usageJson = i % 2 == 0
                ? text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries)[^2]["data: ".Length..]
                : text;
            return (response.StatusCode, Charged: JsonDocument.Parse(usageJson).RootElement.GetProperty("usage").GetProperty("credits_charged").GetDecimal());
        }));

        var admitted = results.Count(r => r.StatusCode == HttpStatusCode.OK);
        admitted.ShouldBeGreaterThanOrEqualTo(1);
        results.Count(r => r.StatusCode == HttpStatusCode.PaymentRequired).ShouldBe(200 - admitted);
        var audit = (await LedgerAudit.RunAsync(fixture.System.Database, teamId)).ShouldBeClean();
        audit.Charges.ShouldBe(admitted);
        audit.Charged.ShouldBe(results.Sum(r => r.Charged), "what the responses say is what the ledger charged");
        audit.Credits.ShouldBeGreaterThanOrEqualTo(0m);
        audit.Credits.ShouldBe(6 * hold - audit.Charged);
        audit.Held.ShouldBe(0m);
    }
}
