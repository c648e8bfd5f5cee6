using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Aurous.InferenceWorker.Chat;
using Xunit.Abstractions;

namespace Aurous.InferenceWorker.Tests;

public sealed class JsonPrefixAutomatonTests
{
    private const string PersonSchema =
        """{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"},"tags":{"type":"array","items":{"type":"string","enum":["a","b"]}},"ok":{"type":"boolean"}},"required":["name","age","tags","ok"]}""";

    internal static SchemaNode Compile(string schema) => JsonSchemaCompiler.Compile(JsonDocument.Parse(schema).RootElement);

    private static (bool Prefix, bool Complete) Check(SchemaNode root, string text)
    {
        var a = new JsonPrefixAutomaton(root);
        var ok = a.TryFeed(text);
        return (ok, ok && a.IsComplete);
    }

    [Theory]
    [InlineData("{", true, false)]
    [InlineData("{}", true, true)]
    [InlineData("{\"a\":1}", true, true)]
    [InlineData("{\"a\":[1,-2.5,\"x\",true,null,{\"b\":false}]}", true, true)]
    [InlineData("{\"a\":\"he said \\\"hi\\\" \\u00e9\"}", true, true)]
    [InlineData("{\"a\":1", true, false)]
    [InlineData("{\"a\":1}x", false, false)]
    [InlineData("[1]", false, false)]
    [InlineData("\"x\"", false, false)]
    [InlineData("{ \"a\":1}", false, false)]
    [InlineData("{\"a\":01}", false, false)]
    [InlineData("{\"a\":1.}", false, false)]
    [InlineData("{\"a\":tru", true, false)]
    [InlineData("{\"a\":trux", false, false)]
    [InlineData("{\"a\":1,}", false, false)]
    [InlineData("{\"a\":\"\\q\"}", false, false)]
    [InlineData("{\"a\"1}", false, false)]
    public void Json_object_prefixes(string text, bool prefix, bool complete)
    {
        Check(JsonSchemaCompiler.JsonObject, text).ShouldBe((prefix, complete), text);
    }

    [Theory]
    [InlineData("{\"name\":\"Ann\",\"age\":42,\"tags\":[\"a\",\"b\"],\"ok\":true}", true, true)]
    [InlineData("{\"name\":\"\",\"age\":-7,\"tags\":[],\"ok\":false}", true, true)]
    [InlineData("{\"name\":\"Ann\",\"age\":4", true, false)]
    [InlineData("{\"na", true, false)]
    [InlineData("{\"nb", false, false)]
    [InlineData("{\"age\":1", false, false)] // name is required and comes first
    [InlineData("{\"name\":\"Ann\",\"age\":4.5", false, false)] // integer
    [InlineData("{\"name\":\"Ann\",\"age\":4,\"tags\":[\"c\"", false, false)]
    [InlineData("{\"name\":\"Ann\",\"age\":4,\"tags\":[\"a\"],\"ok\":1", false, false)]
    [InlineData("{\"name\":\"Ann\",\"age\":4,\"tags\":[\"a\"]}", false, false)] // ok is missing
    [InlineData("{\"name\":\"Ann\",\"age\":4,\"tags\":[\"a\"],\"ok\":true,\"x\":1}", false, false)]
    [InlineData("{\"name\":1", false, false)]
    public void Schema_prefixes(string text, bool prefix, bool complete)
    {
        Check(Compile(PersonSchema), text).ShouldBe((prefix, complete), text);
    }

    [Fact]
    public void Optional_properties_may_be_skipped_but_keep_their_order()
    {
        var root = Compile("""{"type":"object","properties":{"a":{"type":"number"},"b":{"type":"null"},"c":{"type":"string","maxLength":3}},"required":["c"]}""");
        Check(root, "{\"c\":\"xyz\"}").ShouldBe((true, true));
        Check(root, "{\"a\":0.25,\"c\":\"\"}").ShouldBe((true, true));
        Check(root, "{\"b\":null,\"c\":\"x\"}").ShouldBe((true, true));
        Check(root, "{\"c\":\"x\",\"a\":1}").ShouldBe((false, false));
        Check(root, "{\"c\":\"wxyz\"}").ShouldBe((false, false)); // maxLength
        Check(root, "{}").ShouldBe((false, false));
    }

    [Fact]
    public void Arrays_enums_numbers_and_nesting()
    {
        var root = Compile("""{"type":"object","properties":{"xs":{"type":"array","items":{"type":"integer"},"minItems":1,"maxItems":2},"e":{"enum":[1,10,"z"]},"o":{"type":"object","properties":{"b":{"type":"boolean"}},"required":["b"]}},"required":["xs","e","o"]}""");
        Check(root, "{\"xs\":[1,2],\"e\":10,\"o\":{\"b\":true}}").ShouldBe((true, true));
        Check(root, "{\"xs\":[3],\"e\":1,\"o\":{\"b\":false}}").ShouldBe((true, true));
        Check(root, "{\"xs\":[3],\"e\":\"z\",\"o\":{\"b\":false}}").ShouldBe((true, true));
        Check(root, "{\"xs\":[]").ShouldBe((false, false)); // minItems
        Check(root, "{\"xs\":[1,2,3]").ShouldBe((false, false)); // maxItems
        Check(root, "{\"xs\":[1],\"e\":2").ShouldBe((false, false));
        Check(root, "{\"xs\":[1],\"e\":100").ShouldBe((false, false));
        Check(root, "{\"xs\":[1],\"e\":1,\"o\":{}}").ShouldBe((false, false));
        Check(root, "{\"xs\":[1234567890123]").ShouldBe((false, false)); // 13 digits
        Check(root, "{\"xs\":[123456789012]").ShouldBe((true, false));
    }

    [Fact]
    public void Default_string_cap_allows_only_the_closing_quote()
    {
        var a = new JsonPrefixAutomaton(JsonSchemaCompiler.JsonObject);
        a.TryFeed("{\"k\":\"" + new string('x', JsonSchemaCompiler.DefaultMaxStringLength)).ShouldBeTrue();
        a.Accepts("x").ShouldBeFalse();
        a.Accepts("\"}").ShouldBeTrue();
        a.IsComplete.ShouldBeFalse();
    }

    [Theory]
    [InlineData("""{"type":"object","anyOf":[]}""", "anyOf")]
    [InlineData("""{"type":"object","properties":{"a":{"$ref":"#/x"}}}""", "$ref")]
    [InlineData("""{"type":"object","properties":{"a":{"type":"string","pattern":"x"}}}""", "pattern")]
    [InlineData("""{"type":"object","properties":{"a":{"type":"string","format":"date"}}}""", "format")]
    [InlineData("""{"type":"object","properties":{"a":{"type":["string","null"]}}}""", "type")]
    [InlineData("""{"type":"object","additionalProperties":true}""", "additionalProperties")]
    public void Unsupported_keywords_are_refused_by_name(string schema, string keyword)
    {
        var ex = Should.Throw<ChatRequestException>(() => Compile(schema));
        ex.Status.ShouldBe(400);
        ex.Code.ShouldBe("unsupported_schema");
        ex.Message.ShouldContain(keyword);
    }

    [Fact]
    public void The_root_must_be_an_object()
    {
        Should.Throw<ChatRequestException>(() => Compile("""{"type":"string"}""")).Code.ShouldBe("invalid_request");
        Should.Throw<ChatRequestException>(() => Compile("""{"type":"object","required":["x"]}""")).Code.ShouldBe("invalid_request");
    }
}

public sealed class ConstrainedDecodingTests(ChatFixture fx, ITestOutputHelper output) : IClassFixture<ChatFixture>
{
    private const string Route = "/internal/chat/completions";
    private const string PersonSchema =
        """{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"},"tags":{"type":"array","items":{"type":"string","enum":["a","b"]}},"ok":{"type":"boolean"}},"required":["name","age","tags","ok"]}""";

    private JsonObject Body(JsonNode? format, long seed, int maxTokens = 400, double temperature = 1.0, double topP = 1.0) => new()
    {
        ["model"] = ChatFixture.Model,
        ["prompt_token_ids"] = new JsonArray(fx.Prompt("Describe a person as JSON.").Select(i => (JsonNode)i).ToArray()),
        ["max_tokens"] = maxTokens,
        ["temperature"] = temperature,
        ["top_p"] = topP,
        ["seed"] = seed,
        ["response_format"] = format,
    };

    private async Task<(string Text, string Finish, int Tokens)> RunAsync(JsonNode body)
    {
        using var response = await fx.Worker.PostAsync(Route, new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
        var all = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.OK, all);
        var text = new StringBuilder();
        foreach (var line in all.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var e = JsonDocument.Parse(line).RootElement;
            switch (e.GetProperty("type").GetString())
            {
                case "delta":
                    text.Append(e.GetProperty("text").GetString());
                    break;
                case "done":
                    return (text.ToString(), e.GetProperty("finish_reason").GetString()!, e.GetProperty("completion_tokens").GetInt32());
                default:
                    throw new ShouldAssertException(line);
            }
        }
        throw new ShouldAssertException("no done line: " + all);
    }

    [Theory]
    [InlineData(1, 1.0, 1.0)]
    [InlineData(2, 1.0, 1.0)]
    [InlineData(3, 0.7, 0.9)]
    [InlineData(4, 0.0, 1.0)]
    [InlineData(5, 1.5, 0.5)]
    public async Task Json_object_output_is_a_json_object(long seed, double temperature, double topP)
    {
        var (text, finish, _) = await RunAsync(Body(new JsonObject { ["type"] = "json_object" }, seed, temperature: temperature, topP: topP));
        output.WriteLine(text);
        finish.ShouldBe("stop", text);
        JsonDocument.Parse(text).RootElement.ValueKind.ShouldBe(JsonValueKind.Object, text);
    }

    [Theory]
    [InlineData(11, 1.0, 1.0)]
    [InlineData(12, 1.0, 1.0)]
    [InlineData(13, 0.8, 0.9)]
    [InlineData(14, 0.0, 1.0)]
    public async Task Json_schema_output_validates(long seed, double temperature, double topP)
    {
        var format = new JsonObject { ["type"] = "json_schema", ["schema"] = JsonNode.Parse(PersonSchema) };
        var (text, finish, _) = await RunAsync(Body(format, seed, temperature: temperature, topP: topP));
        output.WriteLine(text);
        finish.ShouldBe("stop", text);

        var automaton = new JsonPrefixAutomaton(JsonPrefixAutomatonTests.Compile(PersonSchema));
        automaton.TryFeed(text).ShouldBeTrue(text);
        automaton.IsComplete.ShouldBeTrue(text);

        var root = JsonDocument.Parse(text).RootElement;
        root.ValueKind.ShouldBe(JsonValueKind.Object);
        root.EnumerateObject().Select(p => p.Name).ShouldBe(["name", "age", "tags", "ok"], text);
        root.GetProperty("name").ValueKind.ShouldBe(JsonValueKind.String);
        root.GetProperty("age").TryGetInt64(out _).ShouldBeTrue(text);
        root.GetProperty("tags").ValueKind.ShouldBe(JsonValueKind.Array);
        root.GetProperty("tags").EnumerateArray().ShouldAllBe(t => t.ValueKind == JsonValueKind.String && (t.GetString() == "a" || t.GetString() == "b"));
        root.GetProperty("ok").ValueKind.ShouldBeOneOf(JsonValueKind.True, JsonValueKind.False);
    }

    [Fact]
    public async Task Same_seed_gives_the_same_output()
    {
        var format = new JsonObject { ["type"] = "json_schema", ["schema"] = JsonNode.Parse(PersonSchema) };
        var first = await RunAsync(Body(format, 99));
        var second = await RunAsync(Body(format.DeepClone(), 99));
        second.ShouldBe(first);
        var other = await RunAsync(Body(format.DeepClone(), 100));
        other.Text.ShouldNotBe(first.Text);
    }

    [Fact]
    public async Task Max_tokens_first_ends_with_length()
    {
        var (text, finish, tokens) = await RunAsync(Body(new JsonObject { ["type"] = "json_object" }, 7, maxTokens: 3));
        finish.ShouldBe("length");
        tokens.ShouldBe(3);
        text.ShouldStartWith("{");
    }

    [Theory]
    [InlineData("""{"type":"json_schema","schema":{"type":"object","properties":{"a":{"anyOf":[{"type":"string"}]}}}}""", 400, "unsupported_schema", "anyOf")]
    [InlineData("""{"type":"json_schema","schema":{"type":"object","properties":{"a":{"type":"string","pattern":"^x"}}}}""", 400, "unsupported_schema", "pattern")]
    [InlineData("""{"type":"json_schema","schema":{"$ref":"#/defs/x"}}""", 400, "unsupported_schema", "$ref")]
    [InlineData("""{"type":"json_schema"}""", 400, "invalid_request", "schema")]
    [InlineData("""{"type":"yaml"}""", 400, "invalid_request", "type")]
    [InlineData("""{"type":"json_object","strict":true}""", 400, "invalid_request", "strict")]
    public async Task Bad_formats_are_refused(string format, int status, string code, string mention)
    {
        using var response = await fx.Worker.PostAsync(Route,
            new StringContent(Body(JsonNode.Parse(format), 1).ToJsonString(), Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        ((int)response.StatusCode).ShouldBe(status, text);
        var error = JsonDocument.Parse(text).RootElement.GetProperty("error");
        error.GetProperty("code").GetString().ShouldBe(code, text);
        error.GetProperty("message").GetString()!.ShouldContain(mention);
    }
}
