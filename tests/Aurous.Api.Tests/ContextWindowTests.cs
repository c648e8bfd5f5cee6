using System.ClientModel;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;
using Xunit.Abstractions;

namespace Aurous.Api.Tests;

/// <summary>
/// The context window the worker serves within its memory budget (<c>Inference:MemoryBudgetMb</c>, default 2048 MiB:
/// less than the tiny model's nominal 256,000 tokens): reported by /v1/models and enforced by the API before any hold.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class ContextWindowTests(ApiFixture fixture, ITestOutputHelper output)
{
    private const string Model = "aurous-grow-2.0-pro";

    private ChatClient Sdk(string key) => new OpenAIClient(new ApiKeyCredential(key), new OpenAIClientOptions { Endpoint = fixture.System.ApiV1 }).GetChatClient(Model);

    private async Task<int> ServedWindowAsync(HttpClient http)
    {
        var row = await http.GetFromJsonAsync<JsonElement>($"/v1/models/{Model}");
        return row.GetProperty("aurous_metadata").GetProperty("served_context_window").GetInt32();
    }

    /// <summary>The duration of <paramref name="stage"/> in a Server-Timing header (<c>parse;dur=12.3, ...</c>).</summary>
    private static double ServerTiming(string header, string stage)
    {
        foreach (var entry in header.Split(','))
        {
            var parts = entry.Trim().Split(';');
            if (parts[0] == stage && parts.FirstOrDefault(p => p.StartsWith("dur=", StringComparison.Ordinal)) is { } duration)
            {
                return double.Parse(duration[4..], System.Globalization.CultureInfo.InvariantCulture);
            }
        }
        throw new ShouldAssertException($"Server-Timing '{header}' has no {stage} stage");
    }

    private static string[] ServerTimingStages(string header) => [.. header.Split(',').Select(e => e.Trim().Split(';')[0])];

    [Fact]
    public async Task Models_report_the_served_context_window_next_to_the_nominal_one()
    {
        var (_, key) = await fixture.System.CreateTeamAsync(credits: 1m);
        using var http = fixture.System.CreateApiClient(key);

        var list = await http.GetFromJsonAsync<JsonElement>("/v1/models");
        var rows = list.GetProperty("data").EnumerateArray().ToDictionary(r => r.GetProperty("id").GetString()!, r => r.GetProperty("aurous_metadata"));
        var chat = rows[Model];
        chat.GetProperty("context_window").GetInt32().ShouldBe(256_000);
        var served = chat.GetProperty("served_context_window").GetInt32();
        output.WriteLine($"{Model}: context_window 256000, served_context_window {served}");
        served.ShouldBeInRange(1_000, 255_999, "the default memory budget holds less than the nominal window of the tiny model");
        (await ServedWindowAsync(http)).ShouldBe(served);
        var embedding = rows["aurous-embed-vision-1.0"];
        embedding.GetProperty("served_context_window").GetInt32().ShouldBe(embedding.GetProperty("context_window").GetInt32());
    }

    [Fact]
    public async Task An_over_limit_prompt_is_refused_in_milliseconds_with_nothing_held_or_charged()
    {
        var (_, key) = await fixture.System.CreateTeamAsync(credits: 10m);
        using var http = fixture.System.CreateApiClient(key);
        var served = await ServedWindowAsync(http);
        var sdk = Sdk(key);
        // 20,000 short messages: about 120,000 prompt tokens, inside the nominal 256K but beyond the served window.
        ChatMessage[] messages = [.. Enumerable.Range(0, 20_000).Select(i => new UserChatMessage("hi"))];
        await Should.ThrowAsync<ClientResultException>(() => sdk.CompleteChatAsync(messages)); // warm-up: first use of this path

        var started = Stopwatch.GetTimestamp();
        var error = await Should.ThrowAsync<ClientResultException>(() => sdk.CompleteChatAsync(messages));
        var ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;

        // The API's own time (Server-Timing: body parse, template, tokenising, the window check), without the SDK's
        // serialising of a 1 MB body and the transfer.
        error.GetRawResponse()!.Headers.TryGetValue("Server-Timing", out var timing).ShouldBeTrue();
        var parseMs = ServerTiming(timing!, "parse");
        output.WriteLine($"20,000 messages refused in {ms:F0} ms end to end, {parseMs:F0} ms in the API (Server-Timing: {timing}; served window {served})");
        error.Status.ShouldBe(400);
        using (var body = JsonDocument.Parse(error.GetRawResponse()!.Content.ToString()))
        {
            var e = body.RootElement.GetProperty("error");
            e.GetProperty("code").GetString().ShouldBe("context_length_exceeded");
            e.GetProperty("type").GetString().ShouldBe("invalid_request");
            e.GetProperty("message").GetString()!.ShouldStartWith($"This model's maximum context length is {served} tokens. However, your messages resulted in ");
        }
        // Refused while parsing: no admission stage (TPM bucket, credit hold, worker call) ever started; the request unit
        // it still owes is taken as it ends. The time is that of reading and tokenising 120,000 tokens (about 0.2 s on an
        // idle machine); a prefill that long would take minutes.
        ServerTimingStages(timing!).ShouldBe(["auth", "parse", "rpm"]);
        ms.ShouldBeLessThan(2_000);

        // Within the nominal window but not the served one through max_tokens: refused the same way.
        var completion = await Should.ThrowAsync<ClientResultException>(() =>
            sdk.CompleteChatAsync([new UserChatMessage("hi")], new ChatCompletionOptions { MaxOutputTokenCount = served }));
        completion.Status.ShouldBe(400);
        using (var body = JsonDocument.Parse(completion.GetRawResponse()!.Content.ToString()))
        {
            body.RootElement.GetProperty("error").GetProperty("message").GetString()!.ShouldContain($" in the completion). Please reduce the length of the messages or completion.");
        }

        var balance = await http.GetFromJsonAsync<JsonElement>("/v1/balance");
        balance.GetProperty("credits").GetDecimal().ShouldBe(10m);
        balance.GetProperty("held_credits").GetDecimal().ShouldBe(0m);
    }
}
