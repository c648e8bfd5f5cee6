using System.ClientModel;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using OpenAI;

namespace Aurous.Api.Tests;

/// <summary>Hostile or malformed input (bodies, headers, paths, media) gets a clear 4xx in the envelope, never a 500.</summary>
[Collection(ApiCollection.Name)]
public sealed class InputHardeningTests(ApiFixture fixture)
{
    private const string EmbedModel = "aurous-embed-vision-1.0";
    private const string ChatModel = "aurous-grow-2.0-pro";

    private static ByteArrayContent Raw(byte[] body)
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new("application/json");
        return content;
    }

    private static ByteArrayContent Raw(string body) => Raw(Encoding.UTF8.GetBytes(body));

    private async Task<(HttpClient Client, string TeamId)> ClientAsync(decimal credits = 5m)
    {
        var (teamId, key) = await fixture.System.CreateTeamAsync(credits);
        return (fixture.System.CreateApiClient(key), teamId);
    }

    private static async Task ShouldHaveCostNothingAsync(HttpClient client, decimal credits)
    {
        var balance = await client.GetFromJsonAsync<JsonElement>("/v1/balance");
        balance.GetProperty("credits").GetDecimal().ShouldBe(credits);
        balance.GetProperty("held_credits").GetDecimal().ShouldBe(0m);
    }

    public static TheoryData<string, string> NotText => new()
    {
        // Raw bytes that are not UTF-8 inside a string value, inside a key, and an unpaired surrogate escape.
        { "/v1/embeddings", "{\"model\":\"" + EmbedModel + "\",\"input\":\"a\u00FFb\"}" },
        { "/v1/embeddings", "{\"model\":\"" + EmbedModel + "\",\"input\":\"\\ud800\"}" },
        { "/v1/embeddings", "{\"model\":\"" + EmbedModel + "\",\"input\":[{\"type\":\"text\",\"text\":\"x\\udfff\"}]}" },
        { "/v1/embeddings", "{\"\u00FF\":1}" },
        { "/v1/embeddings", "{\"model\":\"" + EmbedModel + "\",\"\\ud800\":\"x\",\"input\":\"hi\"}" },
        { "/v1/chat/completions", "{\"model\":\"" + ChatModel + "\",\"messages\":[{\"role\":\"user\",\"content\":\"a\u00FFb\"}]}" },
        { "/v1/chat/completions", "{\"model\":\"" + ChatModel + "\",\"messages\":[{\"role\":\"user\",\"content\":\"\\ud800\"}]}" },
        { "/v1/chat/completions", "{\"model\":\"" + ChatModel + "\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"user\":\"\\udc00x\"}" },
    };

    [Theory]
    [MemberData(nameof(NotText))]
    public async Task Strings_that_are_not_text_are_invalid_json_not_a_500(string path, string body)
    {
        var (client, _) = await ClientAsync();
        using var _c = client;
        // \u00FF stands for a lone 0xFF byte: never valid in UTF-8.
        var bytes = body.Select(c => c == '\u00FF' ? (byte)0xFF : (byte)c).ToArray();
        var error = await (await client.PostAsync(path, Raw(bytes))).ShouldBeErrorAsync(400, "invalid_request", "invalid_json");
        error.GetProperty("message").GetString()!.ShouldContain("UTF-8");
        await ShouldHaveCostNothingAsync(client, 5m);
    }

    [Theory]
    [InlineData("/v1/embeddings", """{"model":"nope","model":"aurous-embed-vision-1.0","input":"hi"}""")]
    [InlineData("/v1/embeddings", """{"model":"aurous-embed-vision-1.0","input":[{"type":"text","text":"a","text":"b"}]}""")]
    [InlineData("/v1/embeddings", """{"model":"aurous-embed-vision-1.0","mod\u0065l":"x","input":"hi"}""")]
    [InlineData("/v1/chat/completions", """{"model":"aurous-grow-2.0-pro","messages":[{"role":"user","content":"hi"}],"max_tokens":1,"max_tokens":2}""")]
    [InlineData("/v1/chat/completions", """{"model":"aurous-grow-2.0-pro","messages":[{"role":"system","role":"user","content":"hi"}]}""")]
    [InlineData("/v1/chat/completions", """{"model":"aurous-grow-2.0-pro","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema","json_schema":{"name":"n","schema":{"type":"object","type":"array"}}}}""")]
    public async Task Duplicate_keys_at_any_depth_are_refused(string path, string body)
    {
        var (client, _) = await ClientAsync();
        using var _c = client;
        var error = await (await client.PostAsync(path, Raw(body))).ShouldBeErrorAsync(400, "invalid_request", "invalid_json");
        error.GetProperty("message").GetString()!.ShouldContain("uplicate");
        await ShouldHaveCostNothingAsync(client, 5m);
    }

    [Theory]
    [InlineData("Idempotency-Key", "a", "b")]
    [InlineData("Aurous-Version", "2026-05-15", "2026-05-15")]
    [InlineData("Content-Type", "application/json", "application/json")]
    [InlineData("Authorization", "Bearer KEY", "Bearer KEY")]
    [InlineData("X-Api-Key", "KEY", "KEY")]
    public async Task A_repeated_single_valued_header_is_a_400_not_a_merged_value(string header, string first, string second)
    {
        var (_, key) = await fixture.System.CreateTeamAsync(credits: 5m);
        var credential = header is "Authorization" or "X-Api-Key" ? [] : new[] { $"X-Api-Key: {key}" };
        var body = Encoding.UTF8.GetBytes($$"""{"model":"{{EmbedModel}}","input":"hi"}""");
        var response = await RawHttp.SendAsync(fixture.System.Endpoint("api"), "POST", "/v1/embeddings",
            [.. credential, $"{header}: {first.Replace("KEY", key)}", $"{header}: {second.Replace("KEY", key)}",
             .. header == "Content-Type" ? Array.Empty<string>() : ["Content-Type: application/json"]], body);

        response.Status.ShouldBe(400);
        var error = response.Error();
        error.GetProperty("code").GetString().ShouldBe("duplicate_header");
        error.GetProperty("type").GetString().ShouldBe("invalid_request");
        error.GetProperty("message").GetString()!.ShouldContain(header);
        error.GetProperty("request_id").GetString().ShouldBe(response.Header("Aurous-Request-Id"));
        using var client = fixture.System.CreateApiClient(key);
        await ShouldHaveCostNothingAsync(client, 5m);
    }

    [Fact]
    public async Task One_header_line_holding_a_comma_is_one_value_not_a_duplicate()
    {
        var (_, key) = await fixture.System.CreateTeamAsync(credits: 5m);
        var body = Encoding.UTF8.GetBytes($$"""{"model":"{{EmbedModel}}","input":"hi"}""");
        var response = await RawHttp.SendAsync(fixture.System.Endpoint("api"), "POST", "/v1/embeddings",
            [$"X-Api-Key: {key}", "Content-Type: application/json", $"Idempotency-Key: a,b-{Guid.NewGuid():N}"], body);
        response.Status.ShouldBe(200, response.Body);
    }

    [Theory]
    [InlineData("/v1/embeddings", """{"model":5,"input":"hi"}""", "Invalid type for 'model': expected a string, but got an integer instead.")]
    [InlineData("/v1/embeddings", """{"model":"M","input":{}}""", "Invalid type for 'input': expected a string or an array of content parts, but got an object instead.")]
    [InlineData("/v1/embeddings", """{"model":"M","input":true}""", "Invalid type for 'input': expected a string or an array of content parts, but got a boolean instead.")]
    [InlineData("/v1/embeddings", """{"model":"M","input":"hi","dimensions":1.5}""", "Invalid type for 'dimensions': expected an integer, but got a decimal number instead.")]
    [InlineData("/v1/embeddings", """{"model":"M","input":"hi","encoding_format":1}""", "Invalid type for 'encoding_format': expected a string, but got an integer instead.")]
    [InlineData("/v1/embeddings", """{"model":"M","input":"hi","user":[]}""", "Invalid type for 'user': expected a string, but got an array instead.")]
    [InlineData("/v1/chat/completions", """{"model":5,"messages":[{"role":"user","content":"hi"}]}""", "Invalid type for 'model': expected a string, but got an integer instead.")]
    [InlineData("/v1/chat/completions", """{"model":"M","messages":"hi"}""", "Invalid type for 'messages': expected an array, but got a string instead.")]
    [InlineData("/v1/chat/completions", """{"model":"M","messages":[{"role":"user","content":"hi"}],"max_tokens":"10"}""", "Invalid type for 'max_tokens': expected an integer, but got a string instead.")]
    [InlineData("/v1/chat/completions", """{"model":"M","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":2.5}""", "Invalid type for 'max_completion_tokens': expected an integer, but got a decimal number instead.")]
    [InlineData("/v1/chat/completions", """{"model":"M","messages":[{"role":"user","content":"hi"}],"temperature":"hot"}""", "Invalid type for 'temperature': expected a number, but got a string instead.")]
    [InlineData("/v1/chat/completions", """{"model":"M","messages":[{"role":"user","content":"hi"}],"stream":"yes"}""", "Invalid type for 'stream': expected a boolean, but got a string instead.")]
    [InlineData("/v1/chat/completions", """{"model":"M","messages":[{"role":"user","content":"hi"}],"stop":5}""", "Invalid type for 'stop': expected a string or an array of strings, but got an integer instead.")]
    [InlineData("/v1/chat/completions", """{"model":"M","messages":[{"role":"user","content":"hi"}],"tools":{}}""", "Invalid type for 'tools': expected an array, but got an object instead.")]
    [InlineData("/v1/chat/completions", """{"model":"M","messages":[{"role":"user","content":"hi"}],"response_format":"json"}""", "Invalid type for 'response_format': expected an object, but got a string instead.")]
    [InlineData("/v1/chat/completions", """{"model":"M","messages":[{"role":"user","content":"hi"}],"seed":"1"}""", "Invalid type for 'seed': expected an integer, but got a string instead.")]
    [InlineData("/v1/chat/completions", """{"model":"M","messages":[{"role":5,"content":"hi"}]}""", "Invalid type for 'messages[0].role': expected a string, but got an integer instead.")]
    [InlineData("/v1/chat/completions", """{"model":"M","messages":[{"role":"user","content":7}]}""", "Invalid type for 'messages[0].content': expected a string or an array of content parts, but got an integer instead.")]
    [InlineData("/v1/chat/completions", """{"model":"M","messages":["hi"]}""", "Invalid type for 'messages[0]': expected an object, but got a string instead.")]
    public async Task A_wrongly_typed_field_is_named_with_its_type_not_called_missing(string path, string body, string message)
    {
        var (client, _) = await ClientAsync();
        using var _c = client;
        var model = path == "/v1/embeddings" ? EmbedModel : ChatModel;
        var error = await (await client.PostAsync(path, Raw(body.Replace("\"M\"", $"\"{model}\"")))).ShouldBeErrorAsync(400, "invalid_request", "invalid_type");
        error.GetProperty("message").GetString().ShouldBe(message);
        await ShouldHaveCostNothingAsync(client, 5m);
    }

    [Fact]
    public async Task Huge_numbers_are_range_errors_not_crashes()
    {
        var (client, _) = await ClientAsync();
        using var _c = client;
        const string messages = "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]";
        await (await client.PostAsync("/v1/chat/completions", Raw($$"""{"model":"{{ChatModel}}",{{messages}},"max_tokens":1e400}""")))
            .ShouldBeErrorAsync(400, "invalid_request", "invalid_max_tokens");
        await (await client.PostAsync("/v1/chat/completions", Raw($$"""{"model":"{{ChatModel}}",{{messages}},"seed":123456789012345678901234567890}""")))
            .ShouldBeErrorAsync(400, "invalid_request", "invalid_seed");
        await (await client.PostAsync("/v1/chat/completions", Raw($$"""{"model":"{{ChatModel}}",{{messages}},"temperature":-1e999}""")))
            .ShouldBeErrorAsync(400, "invalid_request", "invalid_temperature");
        await (await client.PostAsync("/v1/embeddings", Raw($$"""{"model":"{{EmbedModel}}","input":"hi","dimensions":99999999999}""")))
            .ShouldBeErrorAsync(400, "invalid_request", "embeddings_unsupported_dimensions");
        await ShouldHaveCostNothingAsync(client, 5m);
    }

    [Fact]
    public async Task Echoed_client_values_are_cut_to_a_bounded_length()
    {
        var (client, _) = await ClientAsync();
        using var _c = client;
        var longName = new string('m', 20_000);
        var notFound = await (await client.PostAsync("/v1/embeddings", Raw($$"""{"model":"{{longName}}","input":"hi"}""")))
            .ShouldBeErrorAsync(404, "invalid_request", "model_not_found");
        ShouldBeBounded(notFound);

        var unknown = await (await client.PostAsync("/v1/embeddings", Raw($$"""{"model":"{{EmbedModel}}","input":"hi","{{longName}}":1}""")))
            .ShouldBeErrorAsync(400, "invalid_request", "unknown_parameter");
        ShouldBeBounded(unknown);

        ShouldBeBounded(await (await client.GetAsync("/v1/" + new string('p', 6000))).ShouldBeErrorAsync(404, "invalid_request", "route_not_found"));
        ShouldBeBounded(await (await client.GetAsync("/v1/models/" + new string('x', 6000))).ShouldBeErrorAsync(404, "invalid_request", "model_not_found"));
        ShouldBeBounded(await (await client.GetAsync("/v1/chat/completions/" + new string('x', 6000))).ShouldBeErrorAsync(404, "invalid_request", "completion_not_found"));

        using var version = new HttpRequestMessage(HttpMethod.Get, "/v1/balance");
        version.Headers.TryAddWithoutValidation("Aurous-Version", new string('v', 8000));
        ShouldBeBounded(await (await client.SendAsync(version)).ShouldBeErrorAsync(400, "invalid_request", "invalid_api_version"));

        static void ShouldBeBounded(JsonElement error)
        {
            var message = error.GetProperty("message").GetString()!;
            message.Length.ShouldBeLessThan(400, message);
            message.ShouldContain("…");
        }
    }

    [Fact]
    public async Task Control_characters_in_a_path_are_refused_or_not_found_never_a_500()
    {
        var (client, _) = await ClientAsync();
        using var _c = client;
        // Kestrel refuses an encoded NUL in the path itself (400, before the API runs); other controls reach the routes.
        (await client.GetAsync("/v1/chat/completions/chatcmpl-%00x")).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        await (await client.GetAsync("/v1/chat/completions/chatcmpl-%01x")).ShouldBeErrorAsync(404, "invalid_request", "completion_not_found");
        await (await client.GetAsync("/v1/models/%7F%1B")).ShouldBeErrorAsync(404, "invalid_request", "model_not_found");
    }

    [Fact]
    public async Task A_one_string_array_is_embedded_as_that_string()
    {
        var (client, _) = await ClientAsync(credits: 10m);
        using var _c = client;
        const string text = "The quick brown fox";
        using var asString = await client.PostAsync("/v1/embeddings", Raw($$"""{"model":"{{EmbedModel}}","input":"{{text}}"}"""));
        using var asArray = await client.PostAsync("/v1/embeddings", Raw($$"""{"model":"{{EmbedModel}}","input":["{{text}}"]}"""));
        asString.StatusCode.ShouldBe(HttpStatusCode.OK);
        asArray.StatusCode.ShouldBe(HttpStatusCode.OK);
        var one = await asString.Content.ReadFromJsonAsync<JsonElement>();
        var other = await asArray.Content.ReadFromJsonAsync<JsonElement>();
        other.GetProperty("data").GetArrayLength().ShouldBe(1);
        other.GetProperty("data")[0].GetProperty("embedding").EnumerateArray().Select(v => v.GetSingle())
            .ShouldBe(one.GetProperty("data")[0].GetProperty("embedding").EnumerateArray().Select(v => v.GetSingle()));
        other.GetProperty("usage").GetRawText().ShouldBe(one.GetProperty("usage").GetRawText());

        // Two or more strings stay a batch, which this model cannot answer N -> N.
        await (await client.PostAsync("/v1/embeddings", Raw($$"""{"model":"{{EmbedModel}}","input":["a","b"]}""")))
            .ShouldBeErrorAsync(400, "invalid_request", "embeddings_batch_not_supported");
        await (await client.PostAsync("/v1/embeddings", Raw($$"""{"model":"{{EmbedModel}}","input":[""]}""")))
            .ShouldBeErrorAsync(400, "invalid_request", "embeddings_empty_input");
    }

    [Fact]
    public async Task The_OpenAI_SDK_embeds_a_one_element_list()
    {
        var (_, key) = await fixture.System.CreateTeamAsync();
        var client = new OpenAIClient(new ApiKeyCredential(key), new OpenAIClientOptions { Endpoint = fixture.System.ApiV1 }).GetEmbeddingClient(EmbedModel);

        // GenerateEmbeddingsAsync sends "input": ["..."], the shape of the Vercel AI SDK's embed() and LangChain's embed_query.
        var list = (await client.GenerateEmbeddingsAsync(["Hello world"])).Value;
        var single = (await client.GenerateEmbeddingAsync("Hello world")).Value;

        list.Count.ShouldBe(1);
        list[0].ToFloats().ToArray().ShouldBe(single.ToFloats().ToArray());
        list.Usage.InputTokenCount.ShouldBe(2);
    }

    [Fact]
    public async Task Headers_past_the_product_limit_get_a_431_in_the_envelope()
    {
        var (client, _) = await ClientAsync();
        using var _c = client;
        using var big = new HttpRequestMessage(HttpMethod.Get, "/v1/balance");
        big.Headers.TryAddWithoutValidation("X-Padding", new string('a', 40 * 1024));
        var error = await (await client.SendAsync(big)).ShouldBeErrorAsync(431, "invalid_request", "request_headers_too_large");
        error.GetProperty("message").GetString()!.ShouldContain("32768");

        using var many = new HttpRequestMessage(HttpMethod.Get, "/v1/balance");
        for (var i = 0; i < 150; i++)
        {
            many.Headers.TryAddWithoutValidation($"X-Extra-{i}", "1");
        }
        await (await client.SendAsync(many)).ShouldBeErrorAsync(431, "invalid_request", "request_headers_too_large");

        await (await client.GetAsync("/v1/models?q=" + new string('q', 10_000))).ShouldBeErrorAsync(414, "invalid_request", "request_uri_too_long");

        // Past Kestrel's own limit (4x the product's) the server answers before any application code runs.
        using var huge = new HttpRequestMessage(HttpMethod.Get, "/v1/balance");
        huge.Headers.TryAddWithoutValidation("X-Padding", new string('a', 200 * 1024));
        (await client.SendAsync(huge)).StatusCode.ShouldBe(HttpStatusCode.RequestHeaderFieldsTooLarge);
    }

    [Fact]
    public async Task A_bare_carriage_return_in_a_header_is_refused_by_the_server_and_the_api_keeps_serving()
    {
        var endpoint = fixture.System.Endpoint("api");
        using var socket = new TcpClient();
        await socket.ConnectAsync(endpoint.Host, endpoint.Port);
        var stream = socket.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET /v1/models HTTP/1.1\r\nHost: {endpoint.Authority}\r\nX-Bad: a\rb\r\n\r\n"));
        using var reader = new StreamReader(stream, Encoding.ASCII);
        var statusLine = await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
        statusLine.ShouldStartWith("HTTP/1.1 400");

        var (_, key) = await fixture.System.CreateTeamAsync();
        using var client = fixture.System.CreateApiClient(key);
        (await client.GetAsync("/v1/models")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task An_image_too_large_to_decode_gets_a_clean_message_without_decoder_internals()
    {
        var (client, _) = await ClientAsync();
        using var _c = client;
        var bomb = "data:image/png;base64," + Convert.ToBase64String(PngClaiming(9_000, 9_000));
        var body = JsonSerializer.Serialize(new { model = EmbedModel, input = new object[] { new { type = "image_url", image_url = new { url = bomb } } } });
        var error = await (await client.PostAsync("/v1/embeddings", Raw(body))).ShouldBeErrorAsync(400, "invalid_request", "image_too_large");
        var message = error.GetProperty("message").GetString()!;
        message.ShouldContain("9000 x 9000");
        message.ShouldNotContain("0x");
        message.ShouldNotContain("@");
        message.ShouldNotContain("IMGUTILS");

        var garbage = "data:image/png;base64," + Convert.ToBase64String(Encoding.ASCII.GetBytes("\x89PNG\r\n\x1a\n not really"));
        var bad = JsonSerializer.Serialize(new { model = ChatModel, messages = new object[] { new { role = "user", content = new object[] { new { type = "image_url", image_url = new { url = garbage } } } } } });
        var chatError = await (await client.PostAsync("/v1/chat/completions", Raw(bad))).ShouldBeErrorAsync(400, "invalid_request", "media_decode_failed");
        chatError.GetProperty("message").GetString()!.ShouldNotContain("0x");
        await ShouldHaveCostNothingAsync(client, 5m);
    }

    /// <summary>A real small PNG whose header claims another size: the decoder refuses it on the header, before any pixel.</summary>
    internal static byte[] PngClaiming(int width, int height)
    {
        var png = TestMedia.Png.ToArray();
        // Signature (8) + chunk length (4) + "IHDR" (4), then width and height, big-endian. ffmpeg does not check chunk CRCs by default.
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(png.AsSpan(16), width);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(png.AsSpan(20), height);
        return png;
    }
}
