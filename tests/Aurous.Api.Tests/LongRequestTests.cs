using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aurous.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Aurous.Api.Tests;

/// <summary>
/// A system whose credit holds live 3 s and whose Idempotency-Key leases live 2 s (swept every half second), and a
/// media server that answers an image only after a delay the test chooses, so a request lasts far longer than either.
/// Its worker may fetch from this machine (the media server), and a test kills it.
/// </summary>
public sealed class ShortLeaseFixture : IAsyncLifetime
{
    public static readonly TimeSpan HoldLifetime = TimeSpan.FromSeconds(3);
    public static readonly TimeSpan IdempotencyLease = TimeSpan.FromSeconds(2);

    private WebApplication _media = null!;

    public AurousTestApp System { get; private set; } = null!;
    public Uri Media { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _media = builder.Build();
        var png = TestMedia.Png;
        _media.MapGet("/slow/{ms:int}/{name}", async (int ms, CancellationToken ct) =>
        {
            await Task.Delay(ms, ct);
            return Results.Bytes(png, "image/png");
        });
        await _media.StartAsync();
        Media = new Uri(_media.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

        System = await AurousTestApp.StartAsync(only: ["api"], configure: app =>
        {
            foreach (var project in app.Resources.OfType<ProjectResource>())
            {
                var resource = app.CreateResourceBuilder(project);
                if (project.Name == "api")
                {
                    resource.WithEnvironment("Metering__HoldLifetime", HoldLifetime.ToString())
                        .WithEnvironment("Metering__IdempotencyLease", IdempotencyLease.ToString())
                        .WithEnvironment("Metering__SweepInterval", "00:00:00.5");
                }
                else if (project.Name == "inference-worker")
                {
                    resource.WithEnvironment("Media__AllowPrivateNetworks", "true");
                }
            }
        });
    }

    public async Task DisposeAsync()
    {
        await System.DisposeAsync();
        await _media.DisposeAsync();
    }
}

[CollectionDefinition(Name)]
public sealed class ShortLeaseCollection : ICollectionFixture<ShortLeaseFixture>
{
    public const string Name = "short-lease";
}

[Collection(ShortLeaseCollection.Name)]
public sealed class LongRequestTests(ShortLeaseFixture fixture)
{
    private const string Model = "aurous-grow-2.0-pro";

    /// <summary>A chat with one image that the media server sends after <paramref name="delay"/>: the request lasts at least that long.</summary>
    private string SlowChat(TimeSpan delay, string name, bool stream) => JsonSerializer.Serialize(new
    {
        model = Model,
        messages = new object[]
        {
            new
            {
                role = "user",
                content = new object[]
                {
                    new { type = "text", text = "Describe the picture." },
                    new { type = "image_url", image_url = new { url = new Uri(fixture.Media, $"/slow/{(int)delay.TotalMilliseconds}/{name}.png").AbsoluteUri } },
                },
            },
        },
        max_tokens = 16,
        seed = 3,
        stream,
    });

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private async Task<string?> HoldStateAsync(string requestId)
    {
        await using var cmd = fixture.System.Database.CreateCommand("SELECT state FROM credit_holds WHERE request_id = @r");
        cmd.Parameters.AddWithValue("r", requestId);
        return (string?)await cmd.ExecuteScalarAsync();
    }

    private async Task<long> ChargesAsync(string teamId)
    {
        await using var cmd = fixture.System.Database.CreateCommand("SELECT count(*) FROM ledger_entries WHERE team_id = @t AND kind = 'charge'");
        cmd.Parameters.AddWithValue("t", teamId);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task A_stream_that_outlives_its_hold_lifetime_is_charged_exactly_once()
    {
        await fixture.System.EnsureHealthyAsync("inference-worker");
        var (teamId, key) = await fixture.System.CreateTeamAsync(credits: 1m);
        using var http = fixture.System.CreateApiClient(key);
        http.Timeout = TimeSpan.FromMinutes(2);

        var clock = Stopwatch.StartNew();
        using var response = await http.PostAsync("/v1/chat/completions", Json(SlowChat(TimeSpan.FromSeconds(8), "stream", stream: true)));
        var text = await response.Content.ReadAsStringAsync();
        var elapsed = clock.Elapsed;

        response.StatusCode.ShouldBe(HttpStatusCode.OK, text);
        elapsed.ShouldBeGreaterThan(ShortLeaseFixture.HoldLifetime * 2.5, "the request must outlive its hold's lifetime several times over");
        var events = text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        events[^1].ShouldBe("data: [DONE]");
        var charged = JsonDocument.Parse(events[^2]["data: ".Length..]).RootElement.GetProperty("usage").GetProperty("credits_charged").GetDecimal();
        charged.ShouldBeGreaterThan(0m);

        var requestId = response.Headers.GetValues("Aurous-Request-Id").Single();
        (await HoldStateAsync(requestId)).ShouldBe("captured", "the sweeper must not have expired the hold of a request still at work");
        var audit = (await LedgerAudit.RunAsync(fixture.System.Database, teamId)).ShouldBeClean();
        audit.Charges.ShouldBe(1);
        audit.Charged.ShouldBe(charged, "the final chunk says what the ledger charged");
    }

    [Fact]
    public async Task A_long_idempotent_chat_keeps_its_key_then_replays_byte_for_byte()
    {
        await fixture.System.EnsureHealthyAsync("inference-worker");
        var (teamId, key) = await fixture.System.CreateTeamAsync(credits: 1m);
        using var http = fixture.System.CreateApiClient(key);
        http.Timeout = TimeSpan.FromMinutes(2);
        var body = SlowChat(TimeSpan.FromSeconds(6), "idempotent", stream: false);
        async Task<HttpResponseMessage> SendAsync()
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = Json(body) };
            request.Headers.Add("Idempotency-Key", "six-seconds");
            return await http.SendAsync(request);
        }

        var clock = Stopwatch.StartNew();
        var original = SendAsync();
        // Past the lease (2 s) and more: without renewal a retry would take the key over now.
        await Task.Delay(ShortLeaseFixture.IdempotencyLease * 2);
        using (var retryDuring = await SendAsync())
        {
            original.IsCompleted.ShouldBeFalse("the first request must still be running for this check to mean anything");
            await retryDuring.ShouldBeErrorAsync(409, "idempotency_error", "idempotency_request_in_progress");
        }

        using var first = await original;
        clock.Elapsed.ShouldBeGreaterThan(ShortLeaseFixture.IdempotencyLease * 2.5);
        first.StatusCode.ShouldBe(HttpStatusCode.OK, await first.Content.ReadAsStringAsync());
        var bytes = await first.Content.ReadAsByteArrayAsync();

        using var replay = await SendAsync();
        replay.StatusCode.ShouldBe(HttpStatusCode.OK);
        replay.Headers.GetValues("Aurous-Idempotent-Replayed").Single().ShouldBe("true");
        (await replay.Content.ReadAsByteArrayAsync()).ShouldBe(bytes);
        JsonDocument.Parse(bytes).RootElement.GetProperty("id").GetString().ShouldStartWith("cmp_");

        var audit = (await LedgerAudit.RunAsync(fixture.System.Database, teamId)).ShouldBeClean();
        audit.Charges.ShouldBe(1);
        audit.Charged.ShouldBe(JsonDocument.Parse(bytes).RootElement.GetProperty("usage").GetProperty("credits_charged").GetDecimal());
    }

    [Fact]
    public async Task A_worker_failure_mid_stream_followed_by_a_hang_up_charges_nothing_and_leaves_no_hold()
    {
        await fixture.System.EnsureHealthyAsync("inference-worker");
        var (teamId, key) = await fixture.System.CreateTeamAsync(credits: 1m);
        using var http = fixture.System.CreateApiClient(key);
        // The schema forces thousands of tokens, so the generation is still running when the worker dies.
        const string Body = """
            {"model":"aurous-grow-2.0-pro","messages":[{"role":"user","content":"Count."}],"stream":true,"max_tokens":100000,
             "response_format":{"type":"json_schema","json_schema":{"name":"numbers","schema":{"type":"object","properties":{"n":{"type":"array","items":{"type":"integer"},"minItems":1024}},"required":["n"],"additionalProperties":false}}}}
            """;
        var response = await http.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = Json(Body) }, HttpCompletionOption.ResponseHeadersRead);
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var requestId = response.Headers.GetValues("Aurous-Request-Id").Single();
        var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        for (var chunks = 0; chunks < 5;)
        {
            var line = await reader.ReadLineAsync();
            line.ShouldNotBeNull();
            chunks += line.StartsWith("data: {", StringComparison.Ordinal) ? 1 : 0;
        }

        // The worker dies, and the client leaves as the API learns of it.
        Process.GetProcessById(await fixture.System.ProcessIdAsync("inference-worker")).Kill(entireProcessTree: true);
        await Task.Delay(100);
        reader.Dispose();
        response.Dispose();

        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (await HoldStateAsync(requestId) == "held" && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }
        (await HoldStateAsync(requestId)).ShouldBe("released");
        (await ChargesAsync(teamId)).ShouldBe(0);
        var audit = (await LedgerAudit.RunAsync(fixture.System.Database, teamId)).ShouldBeClean();
        audit.Credits.ShouldBe(1m);

        // Start the worker again for the other tests, once the orchestrator has seen it exit.
        using var exited = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await fixture.System.App.Services.GetRequiredService<ResourceNotificationService>().WaitForResourceAsync(
            "inference-worker", e => e.Snapshot.State?.Text is "Exited" or "Finished" or "FailedToStart", exited.Token);
        await fixture.System.EnsureHealthyAsync("inference-worker");
    }
}
