using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Aurous.InferenceWorker.Chat;
using Xunit.Abstractions;

namespace Aurous.InferenceWorker.Tests;

public sealed class ToolCallConstraintTests
{
    private const string WeatherParameters =
        """{"type":"object","properties":{"city":{"type":"string","maxLength":12},"unit":{"enum":["c","f"]}},"required":["city","unit"]}""";

    private static ToolCalling Calling(bool required, bool parallel = true) => new(
    [
        new ToolSpec("get_weather", JsonPrefixAutomatonTests.Compile(WeatherParameters)),
        new ToolSpec("get_time", JsonSchemaCompiler.NoArguments),
        new ToolSpec("get", JsonPrefixAutomatonTests.Compile("""{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]}""")),
    ], required, parallel);

    private const string WeatherCall = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\":\"Oslo\",\"unit\":\"c\"}}\n</tool_call>";

    [Theory]
    [InlineData(WeatherCall, true, true)]
    [InlineData("<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>", true, true)]
    [InlineData("<tool_call>\n{\"name\": \"get\", \"arguments\": {\"n\":-3}}\n</tool_call>", true, true)] // a name that prefixes others
    [InlineData(WeatherCall + "\n" + "<tool_call>\n{\"name\": \"get\", \"arguments\": {\"n\":1}}\n</tool_call>", true, true)]
    [InlineData("<tool_call>\n{\"name\": \"get_w", true, false)]
    [InlineData("<tool_call>\n{\"name\": \"get_x", false, false)]
    [InlineData("<tool_call>\n{\"name\": \"nope", false, false)]
    [InlineData("<tool_call>\n{\"name\": \"get_weathe\"", false, false)]
    [InlineData("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"unit\":\"c\"", false, false)] // city is required and first
    [InlineData("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\":\"Oslo\",\"unit\":\"k\"", false, false)]
    [InlineData("<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"x\":1", false, false)]
    [InlineData(WeatherCall + "x", false, false)]
    [InlineData("Hello", false, false)] // required: no plain text
    public void Required_calls(string text, bool prefix, bool mayEnd)
    {
        var c = new ToolCallConstraint(Calling(required: true));
        var ok = c.TryFeed(text);
        ok.ShouldBe(prefix, text);
        if (ok)
        {
            c.MayEnd.ShouldBe(mayEnd, text);
        }
    }

    [Fact]
    public void Required_first_character_is_the_tag_and_end_is_not_allowed_before_a_call()
    {
        var c = new ToolCallConstraint(Calling(required: true));
        c.MayEnd.ShouldBeFalse();
        c.Accepts("<").ShouldBeTrue();
        c.Accepts("H").ShouldBeFalse();
        c.Accepts(" <").ShouldBeFalse();
    }

    [Fact]
    public void Without_parallel_calls_one_call_completes_the_output()
    {
        var c = new ToolCallConstraint(Calling(required: true, parallel: false));
        c.TryFeed(WeatherCall).ShouldBeTrue();
        c.IsComplete.ShouldBeTrue();
        c.Accepts("\n").ShouldBeFalse();
        c.Calls.ShouldBe(1);
    }

    [Fact]
    public void Parallel_calls_stop_at_the_cap()
    {
        var c = new ToolCallConstraint(Calling(required: true));
        c.TryFeed(WeatherCall).ShouldBeTrue();
        for (var i = 1; i < ToolCallConstraint.MaxCalls; i++)
        {
            c.IsComplete.ShouldBeFalse();
            c.TryFeed("\n" + WeatherCall).ShouldBeTrue();
        }
        c.Calls.ShouldBe(ToolCallConstraint.MaxCalls);
        c.IsComplete.ShouldBeTrue();
    }

    [Theory]
    [InlineData("Hello there", true)]
    [InlineData("", true)]
    [InlineData("<tool", true)] // still undecided: the tag is not complete
    [InlineData("<tool_cal x", true)] // left the tag: plain text
    [InlineData("<b>bold</b>", true)]
    [InlineData(WeatherCall, true)]
    [InlineData("<tool_call>x", false)] // a tool call that is not one
    [InlineData("<tool_call>\n{\"name\": \"nope\"", false)]
    public void Auto_text_or_calls(string text, bool valid)
    {
        var c = new ToolCallConstraint(Calling(required: false));
        c.TryFeed(text).ShouldBe(valid, text);
    }

    [Fact]
    public void Auto_commits_at_the_whole_tag_and_becomes_free_on_leaving_it()
    {
        var text = new ToolCallConstraint(Calling(required: false));
        text.IsUndecided.ShouldBeTrue();
        text.MayEnd.ShouldBeTrue();
        text.TryFeed("<tool").ShouldBeTrue();
        text.IsUndecided.ShouldBeTrue();
        text.TryFeed("s").ShouldBeTrue();
        text.IsAnswer.ShouldBeTrue();
        text.IsFree.ShouldBeTrue();

        var call = new ToolCallConstraint(Calling(required: false));
        call.TryFeed("<tool_call>").ShouldBeTrue();
        call.IsUndecided.ShouldBeFalse();
        call.IsAnswer.ShouldBeFalse();
        call.MayEnd.ShouldBeFalse();
        call.Accepts("\n{\"name\": \"get_time\"").ShouldBeTrue();
        call.Accepts("hello").ShouldBeFalse();
    }

    [Fact]
    public void Auto_with_a_response_format_keeps_the_plain_answer_to_the_schema()
    {
        var c = new ToolCallConstraint(Calling(required: false), JsonSchemaCompiler.JsonObject);
        c.MayEnd.ShouldBeFalse(); // an empty answer is not a JSON object
        c.Accepts("{\"a\":1}").ShouldBeTrue();
        c.Accepts("hello").ShouldBeFalse();
        c.Accepts(WeatherCall).ShouldBeTrue();
        c.TryFeed("{\"a\":1}").ShouldBeTrue();
        c.IsComplete.ShouldBeTrue();
    }

    [Fact]
    public void Accepts_does_not_change_the_state()
    {
        var c = new ToolCallConstraint(Calling(required: true));
        c.TryFeed("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"ci").ShouldBeTrue();
        c.Accepts("ty\":\"Rome\",\"unit\":\"f\"}}\n</tool_call>").ShouldBeTrue();
        c.Accepts("tx").ShouldBeFalse();
        c.TryFeed("ty\":\"Rome\",\"unit\":\"f\"}}\n</tool_call>").ShouldBeTrue();
        c.MayEnd.ShouldBeTrue();
    }

    [Fact]
    public void Fragments_carry_the_name_then_the_arguments_of_each_call()
    {
        var c = new ToolCallConstraint(Calling(required: true));
        c.TryFeed("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\":").ShouldBeTrue();
        c.Drain().ShouldBe([new ToolCallFragment(0, "get_weather", ""), new ToolCallFragment(0, null, "{\"city\":")]);
        c.TryFeed("\"Oslo\",\"unit\":\"c\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}").ShouldBeTrue();
        c.Drain().ShouldBe(
        [
            new ToolCallFragment(0, null, "\"Oslo\",\"unit\":\"c\"}"),
            new ToolCallFragment(1, "get_time", ""),
            new ToolCallFragment(1, null, "{}"),
        ]);
        c.Drain().ShouldBeEmpty();
    }
}

public sealed class ToolCallGenerationTests(ChatFixture fx, ITestOutputHelper output) : IClassFixture<ChatFixture>
{
    private const string Route = "/internal/chat/completions";
    private const string WeatherParameters =
        """{"type":"object","properties":{"city":{"type":"string","maxLength":20},"days":{"type":"integer"},"unit":{"enum":["celsius","fahrenheit"]}},"required":["city","days","unit"]}""";

    private JsonObject Body(string? choice, long seed, bool? parallel = null, int maxTokens = 300) => new()
    {
        ["model"] = ChatFixture.Model,
        ["prompt_token_ids"] = new JsonArray(fx.Prompt("What is the weather in Oslo?").Select(i => (JsonNode)i).ToArray()),
        ["max_tokens"] = maxTokens,
        ["seed"] = seed,
        ["tools"] = new JsonArray(
            new JsonObject { ["name"] = "get_weather", ["parameters"] = JsonNode.Parse(WeatherParameters) },
            new JsonObject { ["name"] = "get_time" }),
        ["tool_choice"] = choice,
        ["parallel_tool_calls"] = parallel,
    };

    private sealed record Call(string Name, string Arguments);

    private async Task<(List<Call> Calls, string Text, string Finish)> RunAsync(JsonNode body)
    {
        using var response = await fx.Worker.PostAsync(Route, new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
        var all = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.OK, all);
        var calls = new List<(string? Name, StringBuilder Arguments)>();
        var text = new StringBuilder();
        foreach (var line in all.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var e = JsonDocument.Parse(line).RootElement;
            switch (e.GetProperty("type").GetString())
            {
                case "delta":
                    text.Append(e.GetProperty("text").GetString());
                    break;
                case "tool_call":
                    var index = e.GetProperty("index").GetInt32();
                    if (e.TryGetProperty("name", out var name))
                    {
                        index.ShouldBe(calls.Count, line);
                        calls.Add((name.GetString(), new StringBuilder()));
                    }
                    calls[index].Arguments.Append(e.GetProperty("arguments").GetString());
                    break;
                case "done":
                    return (calls.Select(c => new Call(c.Name!, c.Arguments.ToString())).ToList(), text.ToString(), e.GetProperty("finish_reason").GetString()!);
                default:
                    throw new ShouldAssertException(line);
            }
        }
        throw new ShouldAssertException("no done line: " + all);
    }

    private static void ShouldValidate(Call call)
    {
        var args = JsonDocument.Parse(call.Arguments).RootElement;
        if (call.Name == "get_time")
        {
            args.EnumerateObject().ShouldBeEmpty();
            return;
        }
        call.Name.ShouldBe("get_weather");
        args.EnumerateObject().Select(p => p.Name).ShouldBe(["city", "days", "unit"], call.Arguments);
        args.GetProperty("city").ValueKind.ShouldBe(JsonValueKind.String);
        args.GetProperty("city").GetString()!.Length.ShouldBeLessThanOrEqualTo(20);
        args.GetProperty("days").TryGetInt64(out _).ShouldBeTrue(call.Arguments);
        args.GetProperty("unit").GetString().ShouldBeOneOf("celsius", "fahrenheit");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public async Task Required_gives_calls_whose_arguments_validate(long seed)
    {
        var (calls, text, finish) = await RunAsync(Body("required", seed));
        output.WriteLine(string.Join("\n", calls));
        finish.ShouldBe("tool_calls");
        text.ShouldBeEmpty();
        calls.ShouldNotBeEmpty();
        calls.Count.ShouldBeLessThanOrEqualTo(ToolCallConstraint.MaxCalls);
        calls.ForEach(ShouldValidate);
    }

    [Fact]
    public async Task Without_parallel_calls_there_is_exactly_one()
    {
        for (var seed = 20; seed < 24; seed++)
        {
            var (calls, _, finish) = await RunAsync(Body("required", seed, parallel: false));
            finish.ShouldBe("tool_calls");
            calls.Count.ShouldBe(1);
            ShouldValidate(calls[0]);
        }
    }

    [Fact]
    public async Task A_single_tool_forces_that_function()
    {
        var body = Body("required", 5);
        body["tools"] = new JsonArray(new JsonObject { ["name"] = "get_weather", ["parameters"] = JsonNode.Parse(WeatherParameters) });
        var (calls, _, finish) = await RunAsync(body);
        finish.ShouldBe("tool_calls");
        calls.ShouldAllBe(c => c.Name == "get_weather");
        calls.ForEach(ShouldValidate);
    }

    [Fact]
    public async Task Same_seed_same_calls()
    {
        var first = await RunAsync(Body("required", 42));
        var second = await RunAsync(Body("required", 42));
        second.Calls.ShouldBe(first.Calls);
    }

    [Fact]
    public async Task Auto_answers_with_text_or_valid_calls()
    {
        for (var seed = 30; seed < 34; seed++)
        {
            var (calls, text, finish) = await RunAsync(Body("auto", seed));
            output.WriteLine($"{finish}: {text} {string.Join(",", calls)}");
            if (calls.Count > 0)
            {
                finish.ShouldBe("tool_calls");
                text.ShouldBeEmpty();
                calls.ForEach(ShouldValidate);
            }
            else
            {
                finish.ShouldBeOneOf("stop", "length");
                text.ShouldNotStartWith(ToolCallConstraint.CallTag);
            }
        }
    }

    [Fact]
    public async Task Max_tokens_inside_a_call_ends_with_length()
    {
        var whole = await RunAsync(Body("required", 8, parallel: false));
        whole.Finish.ShouldBe("tool_calls");
        var (calls, _, finish) = await RunAsync(Body("required", 8, parallel: false, maxTokens: 30));
        output.WriteLine(string.Join("\n", calls));
        finish.ShouldBe("length");
        // The same sampling, cut short: a prefix of the whole call.
        calls.Count.ShouldBeLessThanOrEqualTo(1);
        if (calls.Count == 1)
        {
            calls[0].Name.ShouldBe(whole.Calls[0].Name);
            whole.Calls[0].Arguments.ShouldStartWith(calls[0].Arguments);
            calls[0].Arguments.ShouldNotBe(whole.Calls[0].Arguments);
        }
    }

    [Theory]
    [InlineData("""[{"name":"f","parameters":{"type":"object","properties":{"a":{"type":"string","format":"date"}}}}]""", "auto", "unsupported_schema", "tools[0].function.parameters.properties.a.format")]
    [InlineData("""[{"name":"f"},{"name":"f"}]""", "auto", "invalid_request", "twice")]
    [InlineData("""[{"name":"has space"}]""", "auto", "invalid_request", "tools[0].name")]
    [InlineData("""[{"name":"f","parameters":{"type":"string"}}]""", "auto", "invalid_request", "tools[0].function.parameters")]
    [InlineData("""[{"name":"f"}]""", "sometimes", "invalid_request", "tool_choice")]
    [InlineData("[]", "required", "invalid_request", "tool_choice")]
    public async Task Bad_tools_are_refused(string tools, string choice, string code, string mention)
    {
        var body = Body(choice, 1);
        body["tools"] = JsonNode.Parse(tools);
        using var response = await fx.Worker.PostAsync(Route, new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest, text);
        var error = JsonDocument.Parse(text).RootElement.GetProperty("error");
        error.GetProperty("code").GetString().ShouldBe(code, text);
        error.GetProperty("message").GetString()!.ShouldContain(mention);
    }
}
