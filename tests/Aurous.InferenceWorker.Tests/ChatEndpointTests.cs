using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Aurous.Inference.Contracts;
using Aurous.InferenceWorker.Chat;
using Aurous.ModelForge;
using Aurous.Tokenizers;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Aurous.InferenceWorker.Tests;

/// <summary>Generated models (the tiny decoder included) and one in-process worker.</summary>
public sealed class ChatFixture : IAsyncLifetime
{
    public const string Model = "aurous-grow-2.0-pro";

    private readonly TempModels _models = new();
    private WebApplicationFactory<Program> _factory = null!;

    public HttpClient Worker { get; private set; } = null!;
    public BpeTokenizer Tokenizer { get; private set; } = null!;
    public ChatEngine Engine => _factory.Services.GetRequiredService<ChatEngine>();

    public async Task InitializeAsync()
    {
        Forge.EnsureGenerated(_models.Catalog());
        Tokenizer = BpeTokenizer.Load(Path.Combine(_models.Directory, Model, "tokenizer.json"));
        _factory = TestWorker.Create(builder =>
        {
            builder.UseSetting("Models:Path", _models.Directory);
            builder.UseSetting("Inference:ExecutionProvider", "cpu");
        });
        Worker = _factory.CreateAuthorizedClient();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (JsonDocument.Parse(await Worker.GetStringAsync("/v1/info")).RootElement.GetProperty("status").GetString() == "loading"
            && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }
    }

    public int[] Prompt(string user) =>
        Tokenizer.Encode($"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n");

    public async Task DisposeAsync()
    {
        await _factory.DisposeAsync();
        _models.Dispose();
    }
}

public sealed class ChatEndpointTests(ChatFixture fx) : IClassFixture<ChatFixture>
{
    private const string Route = "/internal/chat/completions";

    private sealed record Streamed(string Text, IReadOnlyList<string> Deltas, JsonElement Final);

    private JsonObject Body(string user = "Tell me a story about a fox.", int? maxTokens = 40, double? temperature = 1.0, long? seed = 42,
        string[]? stop = null, bool ignoreEos = true)
    {
        var body = new JsonObject
        {
            ["model"] = ChatFixture.Model,
            ["prompt_token_ids"] = new JsonArray(fx.Prompt(user).Select(i => (JsonNode)i).ToArray()),
            ["max_tokens"] = maxTokens,
            ["temperature"] = temperature,
            ["top_p"] = 1.0,
            ["seed"] = seed,
            ["ignore_eos"] = ignoreEos,
        };
        if (stop is not null)
        {
            body["stop"] = new JsonArray(stop.Select(s => (JsonNode)s!).ToArray());
        }
        return body;
    }

    private static HttpRequestMessage Post(JsonNode body) => new(HttpMethod.Post, Route)
    {
        Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"),
    };

    private async Task<Streamed> StreamAsync(JsonNode body)
    {
        using var response = await fx.Worker.SendAsync(Post(body), HttpCompletionOption.ResponseHeadersRead);
        response.StatusCode.ShouldBe(HttpStatusCode.OK, await ErrorText(response));
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/x-ndjson");
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var deltas = new List<string>();
        while (await reader.ReadLineAsync() is { } line)
        {
            var e = JsonDocument.Parse(line).RootElement;
            switch (e.GetProperty("type").GetString())
            {
                case "delta":
                    var text = e.GetProperty("text").GetString()!;
                    text.ShouldNotBeEmpty();
                    deltas.Add(text);
                    break;
                case "done":
                    (await reader.ReadLineAsync()).ShouldBeNull("nothing follows the done line");
                    return new Streamed(string.Concat(deltas), deltas, e.Clone());
                default:
                    throw new ShouldAssertException($"unexpected line {line}");
            }
        }
        throw new ShouldAssertException("the stream ended without a done line");
    }

    private static async Task<string> ErrorText(HttpResponseMessage response) =>
        response.StatusCode == HttpStatusCode.OK ? "" : await response.Content.ReadAsStringAsync();

    [Fact]
    public async Task Info_shows_the_chat_model_loaded()
    {
        var info = JsonDocument.Parse(await fx.Worker.GetStringAsync("/v1/info")).RootElement;
        var chat = info.GetProperty("models").EnumerateArray().Single(m => m.GetProperty("id").GetString() == ChatFixture.Model);
        chat.GetProperty("status").GetString().ShouldBe("loaded", chat.ToString());
        chat.GetProperty("kind").GetString().ShouldBe("chat");
        chat.GetProperty("outputs").EnumerateArray().Select(o => o.GetProperty("name").GetString()).ShouldContain("present.1.key");
    }

    [Fact]
    public async Task Streamed_deltas_concatenate_to_the_decoded_completion()
    {
        var body = Body(maxTokens: 48, seed: 7);
        var streamed = await StreamAsync(body);

        // The same generation straight from the engine gives the ids; their decode is the text.
        var request = JsonSerializer.Deserialize<InternalChatRequest>(body.ToJsonString(), InternalJson.Options)!;
        var ids = new List<int>();
        var text = new StringBuilder();
        ChatDone? done = null;
        await foreach (var e in fx.Engine.GenerateAsync(fx.Engine.Prepare(request), Stopwatch.GetTimestamp(), CancellationToken.None))
        {
            if (e is ChatDelta d)
            {
                ids.AddRange(d.TokenIds);
                text.Append(d.Text);
            }
            done = e as ChatDone ?? done;
        }
        streamed.Text.ShouldBe(text.ToString());
        streamed.Text.ShouldBe(fx.Tokenizer.Decode(ids.Where(i => i < 50257).ToArray()));
        streamed.Text.Length.ShouldBeGreaterThan(0);
        streamed.Final.GetProperty("finish_reason").GetString().ShouldBe("length");
        streamed.Final.GetProperty("completion_tokens").GetInt32().ShouldBe(48);
        streamed.Final.GetProperty("prompt_tokens").GetInt32().ShouldBe(fx.Prompt("Tell me a story about a fox.").Length);
        streamed.Final.GetProperty("time_to_first_token_ms").GetDouble().ShouldBeGreaterThan(0);
        done!.CompletionTokens.ShouldBe(48);
    }

    [Fact]
    public async Task The_same_seed_gives_the_same_text_and_another_seed_another()
    {
        var a = await StreamAsync(Body(seed: 1234));
        var b = await StreamAsync(Body(seed: 1234));
        var c = await StreamAsync(Body(seed: 98765));

        b.Text.ShouldBe(a.Text);
        c.Text.ShouldNotBe(a.Text);
    }

    [Fact]
    public async Task Temperature_zero_is_deterministic_without_a_seed()
    {
        var a = await StreamAsync(Body(temperature: 0, seed: null));
        var b = await StreamAsync(Body(temperature: 0, seed: null));

        a.Text.ShouldNotBeEmpty();
        b.Text.ShouldBe(a.Text);
    }

    [Fact]
    public async Task Top_p_sampling_is_seeded_too()
    {
        var body = Body(seed: 5);
        body["top_p"] = 0.5;
        var a = await StreamAsync(body);
        var b = await StreamAsync(body.DeepClone());

        b.Text.ShouldBe(a.Text);
        a.Final.GetProperty("completion_tokens").GetInt32().ShouldBe(40);
    }

    [Fact]
    public async Task Max_tokens_is_respected_with_finish_reason_length()
    {
        var result = await StreamAsync(Body(maxTokens: 5));

        result.Final.GetProperty("finish_reason").GetString().ShouldBe("length");
        result.Final.GetProperty("completion_tokens").GetInt32().ShouldBe(5);
    }

    [Fact]
    public async Task Without_ignore_eos_the_turn_ends_at_end_of_turn_with_finish_reason_stop()
    {
        var result = await StreamAsync(Body(maxTokens: 2000, ignoreEos: false, seed: 3));

        result.Final.GetProperty("finish_reason").GetString().ShouldBe("stop");
        result.Final.GetProperty("completion_tokens").GetInt32().ShouldBeLessThan(2000);
        result.Text.ShouldNotContain("<|im_end|>");
    }

    [Fact]
    public async Task A_stop_string_ends_the_text_before_it()
    {
        var full = await StreamAsync(Body(maxTokens: 60, seed: 11));
        var words = full.Text.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        words.Length.ShouldBeGreaterThan(6);
        var stop = " " + words[4];
        var expected = full.Text[..full.Text.IndexOf(stop, StringComparison.Ordinal)];

        var cut = await StreamAsync(Body(maxTokens: 60, seed: 11, stop: ["never-appears-xyz", stop]));

        cut.Text.ShouldBe(expected);
        cut.Final.GetProperty("finish_reason").GetString().ShouldBe("stop");
        cut.Final.GetProperty("completion_tokens").GetInt32().ShouldBeLessThan(60);
    }

    [Fact]
    public async Task A_client_disconnect_stops_the_generation()
    {
        var finishedBefore = fx.Engine.FinishedGenerations;
        using var cts = new CancellationTokenSource();
        var response = await fx.Worker.SendAsync(Post(Body(maxTokens: 100_000, seed: 9)), HttpCompletionOption.ResponseHeadersRead, cts.Token);
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cts.Token));
        for (var i = 0; i < 3; i++)
        {
            (await reader.ReadLineAsync(cts.Token)).ShouldNotBeNull();
        }
        fx.Engine.ActiveGenerations.ShouldBe(1);

        cts.Cancel();
        reader.Dispose();
        response.Dispose();
        // 100,000 tokens take minutes to decode: a generation that ends within this wait was stopped by the disconnect.
        // The wait only keeps a broken build from hanging; the assertion is that it ended, not how fast.
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (fx.Engine.ActiveGenerations > 0 && !wait.IsCancellationRequested)
        {
            await Task.Delay(5);
        }

        fx.Engine.ActiveGenerations.ShouldBe(0, "the decode loop should end once the client is gone");
        fx.Engine.FinishedGenerations.ShouldBe(finishedBefore + 1);
    }

    [Fact]
    public async Task A_long_generation_does_not_delay_a_short_one_started_after_it()
    {
        using var cts = new CancellationTokenSource();
        using var longResponse = await fx.Worker.SendAsync(Post(Body(maxTokens: 100_000, seed: 21)), HttpCompletionOption.ResponseHeadersRead, cts.Token);
        using var longReader = new StreamReader(await longResponse.Content.ReadAsStreamAsync(cts.Token));
        (await longReader.ReadLineAsync(cts.Token)).ShouldNotBeNull(); // the long one is decoding

        var shortOne = await StreamAsync(Body(maxTokens: 8, seed: 22));

        // The short one did not queue behind the long one: it is complete while the long one still decodes.
        shortOne.Final.GetProperty("completion_tokens").GetInt32().ShouldBe(8);
        shortOne.Final.GetProperty("finish_reason").GetString().ShouldBe("length");
        fx.Engine.ActiveGenerations.ShouldBe(1, "the long generation is still running when the short one is done");
        cts.Cancel();
    }

    [Fact]
    public async Task Many_long_generations_do_not_make_a_short_one_wait()
    {
        // More long generations than the host has cores (and than 8 decode slots): the short request must still be
        // served between their decode steps rather than queue behind them.
        using var cts = new CancellationTokenSource();
        var longs = new List<(HttpResponseMessage Response, StreamReader Reader)>();
        try
        {
            for (var i = 0; i < 10; i++)
            {
                var response = await fx.Worker.SendAsync(Post(Body(maxTokens: 20_000, seed: 100 + i)), HttpCompletionOption.ResponseHeadersRead, cts.Token);
                var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cts.Token));
                (await reader.ReadLineAsync(cts.Token)).ShouldNotBeNull();
                longs.Add((response, reader));
            }

            var shortOne = await StreamAsync(Body(maxTokens: 8, seed: 23));

            // Complete while all ten long generations still decode: it was served between their steps.
            shortOne.Final.GetProperty("completion_tokens").GetInt32().ShouldBe(8);
            fx.Engine.ActiveGenerations.ShouldBeGreaterThanOrEqualTo(10, "the long generations were still running");
        }
        finally
        {
            cts.Cancel();
            foreach (var (response, reader) in longs)
            {
                reader.Dispose();
                response.Dispose();
            }
        }
    }

    [Theory]
    [InlineData("empty_prompt", 400, "invalid_request")]
    [InlineData("id_out_of_vocab", 400, "invalid_request")]
    [InlineData("negative_id", 400, "invalid_request")]
    [InlineData("context_exceeded", 400, "context_length_exceeded")]
    [InlineData("zero_max_tokens", 400, "invalid_request")]
    [InlineData("temperature_too_high", 400, "invalid_request")]
    [InlineData("top_p_zero", 400, "invalid_request")]
    [InlineData("empty_stop", 400, "invalid_request")]
    [InlineData("unknown_field", 400, "invalid_request")]
    [InlineData("unknown_model", 404, "model_not_found")]
    [InlineData("embedding_model", 400, "model_not_supported")]
    public async Task Invalid_requests_are_refused_before_streaming(string kind, int status, string code)
    {
        var body = Body();
        switch (kind)
        {
            case "empty_prompt": body["prompt_token_ids"] = new JsonArray(); break;
            case "id_out_of_vocab": body["prompt_token_ids"] = new JsonArray(1, 50262); break; // vocabulary 0..50261 (v2 adds the vision markers)
            case "negative_id": body["prompt_token_ids"] = new JsonArray(-1); break;
            case "context_exceeded": body["max_tokens"] = 256_000; break;
            case "zero_max_tokens": body["max_tokens"] = 0; break;
            case "temperature_too_high": body["temperature"] = 2.5; break;
            case "top_p_zero": body["top_p"] = 0; break;
            case "empty_stop": body["stop"] = new JsonArray(""); break;
            case "unknown_field": body["n"] = 2; break;
            case "unknown_model": body["model"] = "no-such-model"; break;
            case "embedding_model": body["model"] = "aurous-embed-vision-1.0"; break;
        }

        using var response = await fx.Worker.SendAsync(Post(body));

        var text = await response.Content.ReadAsStringAsync();
        ((int)response.StatusCode).ShouldBe(status, text);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/json");
        var error = JsonDocument.Parse(text).RootElement.GetProperty("error");
        error.GetProperty("code").GetString().ShouldBe(code);
        error.GetProperty("message").GetString().ShouldNotBeNullOrEmpty();
    }
}
