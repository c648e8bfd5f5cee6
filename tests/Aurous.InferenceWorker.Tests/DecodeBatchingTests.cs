using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Aurous.InferenceWorker.Chat;

namespace Aurous.InferenceWorker.Tests;

/// <summary>
/// Step-level batching through the worker's internal endpoint: generations decoded together in batched runs keep what
/// does not depend on their company (the first token, from the prompt's own prefill; their length and ending; their
/// constraints and stop strings) whatever joins, leaves or is cancelled around them. Later tokens are not compared with
/// a run alone (<c>Aurous-Decode: alone</c>): a batched decoder run rounds differently in the last bits
/// (BatchedDecodeStepTests bounds the logits), and the test model's near-uniform logits turn that into other picks.
/// </summary>
public sealed class DecodeBatchingTests(ChatFixture fx) : IClassFixture<ChatFixture>
{
    private const string Route = "/internal/chat/completions";
    private const string PersonSchema =
        """{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"},"ok":{"type":"boolean"}},"required":["name","age","ok"]}""";
    private const string WeatherParameters =
        """{"type":"object","properties":{"city":{"type":"string","maxLength":20},"unit":{"enum":["celsius","fahrenheit"]}},"required":["city","unit"]}""";

    private JsonObject Body(string user, int maxTokens, double temperature, long? seed, double topP = 1.0, bool ignoreEos = true) => new()
    {
        ["model"] = ChatFixture.Model,
        ["prompt_token_ids"] = new JsonArray(fx.Prompt(user).Select(i => (JsonNode)i).ToArray()),
        ["max_tokens"] = maxTokens,
        ["temperature"] = temperature,
        ["top_p"] = topP,
        ["seed"] = seed,
        ["ignore_eos"] = ignoreEos,
    };

    /// <summary>A mix: greedy, seeded sampling with and without top_p, different prompt lengths and lengths to generate.</summary>
    private List<JsonObject> Mix() =>
    [
        Body("Hi", 40, 0, null),
        Body("Tell me a story about a fox who learns to sail across the sea.", 56, 0, null),
        Body("What is two and two?", 48, 1.0, 7),
        Body("List three colours, then three animals, then three rivers of Europe.", 64, 0.8, 8, topP: 0.9),
        Body("Write a poem.", 32, 1.3, 9, topP: 0.5),
        Body("Hello there, how are you today?", 60, 1.0, 10, ignoreEos: false),
    ];

    [Fact]
    public async Task Generations_batched_together_keep_their_first_token_length_and_ending()
    {
        var bodies = Mix();
        var alone = new List<string>();
        foreach (var body in bodies)
        {
            alone.Add(await RunAsync(body, decodeAlone: true));
        }
        var batcher = fx.Engine.BatcherOf(ChatFixture.Model)!;
        var (runs, steps) = (batcher.Runs, batcher.Steps);

        var together = await Task.WhenAll(bodies.Select(b => RunAsync(b.DeepClone())));

        for (var i = 0; i < bodies.Count; i++)
        {
            ShouldKeepWhatItsCompanyCannotChange(together[i], alone[i], bodies[i]);
        }
        (batcher.Steps - steps).ShouldBeGreaterThan(batcher.Runs - runs, "some decoder runs stepped several generations at once");
    }

    [Theory]
    [InlineData(1, 32, 32)]
    [InlineData(7, 32, 32)]
    [InlineData(8, 32, 4)]
    [InlineData(9, 32, 5)]
    [InlineData(12, 32, 6)]
    [InlineData(32, 32, 16)]
    [InlineData(64, 32, 32)]
    [InlineData(20, 6, 6)]
    public void From_eight_members_a_run_takes_about_half_of_them(int members, int maxBatch, int cap) =>
        // One half's run computes while the other half samples, streams and queues its next step.
        DecodeBatcher.RunCap(members, maxBatch).ShouldBe(cap);

    [Fact]
    public async Task A_generation_that_joins_mid_batch_or_is_cancelled_mid_batch_changes_nobody_else()
    {
        var first = Body("Tell me a story about a fox.", 120, 1.0, 31);
        var second = Body("Hi", 120, 0, null);
        var joiner = Body("What is two and two?", 30, 0.7, 32);
        var expected = new[]
        {
            await RunAsync(first, decodeAlone: true),
            await RunAsync(second, decodeAlone: true),
            await RunAsync(joiner, decodeAlone: true),
        };

        using var stopping = new CancellationTokenSource();
        var a = StreamAsync(first.DeepClone(), afterLines: 10, then: async () =>
        {
            // Both long ones are decoding: one more joins and one is cancelled while they go on.
            var cancelled = StreamAsync(Body("Write a poem.", 100_000, 1.0, 33), afterLines: 5, then: async () =>
            {
                await stopping.CancelAsync();
                return true;
            }, cancellation: stopping.Token);
            var joined = RunAsync(joiner.DeepClone());
            try
            {
                await cancelled;
                throw new ShouldAssertException("the cancelled stream ended by itself");
            }
            catch (OperationCanceledException)
            {
            }
            return await joined;
        });
        var b = RunAsync(second.DeepClone());

        var (streamedA, joinedText) = await a;
        ShouldKeepWhatItsCompanyCannotChange(await b, expected[1], second);
        ShouldKeepWhatItsCompanyCannotChange(streamedA, expected[0], first);
        ShouldKeepWhatItsCompanyCannotChange(joinedText, expected[2], joiner);
    }

    [Fact]
    public async Task Structured_output_tool_calls_and_stop_strings_hold_inside_a_batch()
    {
        var schema = Body("Describe a person as JSON.", 300, 1.0, 41, ignoreEos: false);
        schema["response_format"] = new JsonObject { ["type"] = "json_schema", ["schema"] = JsonNode.Parse(PersonSchema) };
        var tools = Body("What is the weather in Oslo?", 300, 1.0, 42, ignoreEos: false);
        tools["tools"] = new JsonArray(new JsonObject { ["name"] = "get_weather", ["parameters"] = JsonNode.Parse(WeatherParameters) });
        tools["tool_choice"] = "required";
        // The first token comes from the prompt's own prefill, so a stop string made of it must end the batched stream at once.
        var free = await RunAsync(Body("Tell me a story about a fox.", 60, 1.0, 43), decodeAlone: true);
        var first = Lines(free).First(e => e.GetProperty("type").GetString() == "delta").GetProperty("text").GetString()!;
        var stopped = Body("Tell me a story about a fox.", 60, 1.0, 43);
        stopped["stop"] = new JsonArray((JsonNode)first);
        var bodies = new List<JsonObject> { schema, tools, stopped, Body("Hi", 80, 1.0, 44), Body("Write a poem.", 80, 0, null) };
        var alone = new List<string>();
        foreach (var body in bodies)
        {
            alone.Add(await RunAsync(body, decodeAlone: true));
        }

        var batcher = fx.Engine.BatcherOf(ChatFixture.Model)!;
        var (runs, steps) = (batcher.Runs, batcher.Steps);
        var together = await Task.WhenAll(bodies.Select(b => RunAsync(b.DeepClone())));

        for (var i = 3; i < bodies.Count; i++)
        {
            ShouldKeepWhatItsCompanyCannotChange(together[i], alone[i], bodies[i]);
        }
        (batcher.Steps - steps).ShouldBeGreaterThan(batcher.Runs - runs, "some decoder runs stepped several generations at once");
        var person = JsonDocument.Parse(Text(together[0])).RootElement;
        person.EnumerateObject().Select(p => p.Name).ShouldBe(["name", "age", "ok"], together[0]);
        together[0].ShouldContain("\"finish_reason\":\"stop\"");
        var call = Lines(together[1]).Where(e => e.GetProperty("type").GetString() == "tool_call").ToList();
        call[0].GetProperty("name").GetString().ShouldBe("get_weather");
        var arguments = JsonDocument.Parse(string.Concat(call.Select(e => e.GetProperty("arguments").GetString()))).RootElement;
        arguments.GetProperty("unit").GetString().ShouldBeOneOf("celsius", "fahrenheit");
        together[1].ShouldContain("\"finish_reason\":\"tool_calls\"");
        Text(together[2]).ShouldBeEmpty();
        together[2].ShouldContain("\"finish_reason\":\"stop\"");
    }

    /// <summary>
    /// What batching must not change: the first token (from the prompt's own prefill, before any batched run), every
    /// delta numbered in order, and for a generation that ignores the end token, its length and ending.
    /// </summary>
    private static void ShouldKeepWhatItsCompanyCannotChange(string batched, string alone, JsonObject body)
    {
        var deltas = Lines(batched).Where(e => e.GetProperty("type").GetString() == "delta").ToList();
        var aloneFirst = Lines(alone).First(e => e.GetProperty("type").GetString() == "delta");
        if (aloneFirst.GetProperty("completion_tokens").GetInt32() == 1)
        {
            deltas[0].GetRawText().ShouldBe(aloneFirst.GetRawText(), batched);
        }
        var counts = deltas.Select(e => e.GetProperty("completion_tokens").GetInt32()).ToList();
        counts.ShouldBe(counts.Order().Distinct().ToList(), batched);
        var done = Lines(batched).Last();
        done.GetProperty("type").GetString().ShouldBe("done");
        done.GetProperty("completion_tokens").GetInt32().ShouldBe(counts[^1]);
        if (body["ignore_eos"]?.GetValue<bool>() == true)
        {
            done.GetProperty("completion_tokens").GetInt32().ShouldBe(body["max_tokens"]!.GetValue<int>());
            done.GetProperty("finish_reason").GetString().ShouldBe("length");
        }
    }

    /// <summary>The NDJSON stream as one string, with the done line's timing left out (everything else must match).</summary>
    private async Task<string> RunAsync(JsonNode body, bool decodeAlone = false) =>
        (await StreamAsync(body, 0, () => Task.FromResult(""), decodeAlone: decodeAlone)).Stream;

    /// <summary>Streams <paramref name="body"/>; once <paramref name="afterLines"/> lines have come, starts <paramref name="then"/> (awaited at the end).</summary>
    private async Task<(string Stream, T Then)> StreamAsync<T>(JsonNode body, int afterLines, Func<Task<T>> then, CancellationToken cancellation = default, bool decodeAlone = false)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, Route) { Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json") };
        if (decodeAlone)
        {
            request.Headers.Add(InternalChatEndpoint.DecodeHeader, "alone");
        }
        using var response = await fx.Worker.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellation);
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellation));
        var stream = new StringBuilder();
        var lines = 0;
        Task<T>? pending = null;
        while (await reader.ReadLineAsync(cancellation) is { } line)
        {
            var e = JsonNode.Parse(line)!.AsObject();
            e.Remove("time_to_first_token_ms");
            stream.AppendLine(e.ToJsonString());
            if (++lines == afterLines)
            {
                pending = then();
            }
        }
        return (stream.ToString(), pending is null ? default! : await pending);
    }

    private static IEnumerable<JsonElement> Lines(string stream) =>
        stream.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement);

    private static string Text(string stream) =>
        string.Concat(Lines(stream).Where(e => e.GetProperty("type").GetString() == "delta").Select(e => e.GetProperty("text").GetString()));
}
