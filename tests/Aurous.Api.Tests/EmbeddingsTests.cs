using System.ClientModel;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using OpenAI;

namespace Aurous.Api.Tests;

[Collection(ApiCollection.Name)]
public sealed class EmbeddingsTests(ApiFixture fixture)
{
    private const string Model = "aurous-embed-vision-1.0";

    [Fact]
    public async Task The_official_OpenAI_SDK_embeds_text_unchanged()
    {
        var (_, key) = await fixture.System.CreateTeamAsync();
        var client = new OpenAIClient(new ApiKeyCredential(key), new OpenAIClientOptions { Endpoint = fixture.System.ApiV1 }).GetEmbeddingClient(Model);

        var embedding = (await client.GenerateEmbeddingAsync("The quick brown fox jumps over the lazy dog.")).Value;

        var vector = embedding.ToFloats().ToArray();
        vector.Length.ShouldBe(2048);
        Math.Sqrt(vector.Sum(v => (double)v * v)).ShouldBe(1.0, 1e-4);
        embedding.Index.ShouldBe(0);
    }

    [Fact]
    public async Task A_string_gets_one_vector_with_the_seed_usage_shape_and_is_charged_exactly()
    {
        var (teamId, key) = await fixture.System.CreateTeamAsync(credits: 10m);
        using var client = fixture.System.CreateApiClient(key);
        const string text = "Hello world";

        using var response = await client.PostAsync("/v1/embeddings", Json($$"""{"model":"{{Model}}","input":"{{text}}"}"""));

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        body.GetProperty("object").GetString().ShouldBe("list");
        body.GetProperty("model").GetString().ShouldBe(Model);
        var data = body.GetProperty("data");
        data.GetArrayLength().ShouldBe(1);
        data[0].GetProperty("index").GetInt32().ShouldBe(0);
        data[0].GetProperty("embedding").GetArrayLength().ShouldBe(2048);

        // GPT-2 BPE: "Hello world" is two tokens; 2 x 0.04 credits per 1M tokens.
        var usage = body.GetProperty("usage");
        usage.GetProperty("prompt_tokens").GetInt32().ShouldBe(2);
        usage.GetProperty("total_tokens").GetInt32().ShouldBe(2);
        usage.GetProperty("credits_charged").GetDecimal().ShouldBe(0.00000008m);
        var breakdown = usage.GetProperty("breakdown");
        breakdown.GetProperty("input").GetProperty("text").GetDecimal().ShouldBe(0.00000008m);
        breakdown.GetProperty("input").GetProperty("visual").GetDecimal().ShouldBe(0m);
        breakdown.GetProperty("input").GetProperty("video").GetDecimal().ShouldBe(0m);
        breakdown.GetProperty("model").GetString().ShouldBe(Model);

        var balance = await client.GetFromJsonAsync<JsonElement>("/v1/balance");
        balance.GetProperty("credits").GetDecimal().ShouldBe(10m - 0.00000008m);
        balance.GetProperty("held_credits").GetDecimal().ShouldBe(0m);
        await Ledger.ShouldReconcileAsync(fixture.System.Database, teamId, expectedReceipts: 1);

        response.Headers.GetValues("X-RateLimit-TPM-Limit").Single().ShouldNotBeNullOrEmpty();
        response.Headers.GetValues("X-RateLimit-Limit").Single().ShouldNotBeNullOrEmpty();
    }

    [Fact]
    public async Task The_alias_is_accepted_and_echoed()
    {
        var (teamId, key) = await fixture.System.CreateTeamAsync();
        using var client = fixture.System.CreateApiClient(key);
        var body = await (await client.PostAsync("/v1/embeddings", Json("""{"model":"aurous-embed-vision","input":"hi","encoding_format":"base64","dimensions":1024,"user":"u-42"}""")))
            .Content.ReadFromJsonAsync<JsonElement>();
        body.GetProperty("model").GetString().ShouldBe("aurous-embed-vision");
        // v1.0 validates dimensions but always returns the native 2,048 floats, whatever encoding_format says (seed 002, 004).
        body.GetProperty("data")[0].GetProperty("embedding").GetArrayLength().ShouldBe(2048);
        body.GetProperty("usage").GetProperty("breakdown").GetProperty("model").GetString().ShouldBe("aurous-embed-vision");

        // The receipt keeps the end user, the canonical model, the tokens and the rates applied.
        await using var cmd = fixture.System.Database.CreateCommand(
            "SELECT end_user, model, tokens->'input'->>'text', rates->'input'->>'text', endpoint FROM usage_receipts WHERE team_id = @t");
        cmd.Parameters.AddWithValue("t", teamId);
        await using var receipt = await cmd.ExecuteReaderAsync();
        (await receipt.ReadAsync()).ShouldBeTrue();
        receipt.GetString(0).ShouldBe("u-42");
        receipt.GetString(1).ShouldBe(Model);
        receipt.GetString(2).ShouldBe(body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32().ToString());
        receipt.GetString(3).ShouldBe("0.04");
        receipt.GetString(4).ShouldBe("embeddings");
    }

    [Fact]
    public async Task Text_and_image_parts_give_one_combined_vector_billed_per_modality()
    {
        var (_, key) = await fixture.System.CreateTeamAsync();
        using var client = fixture.System.CreateApiClient(key);
        var request = JsonSerializer.Serialize(new
        {
            model = Model,
            input = new object[]
            {
                new { type = "text", text = "Photo of a golden retriever in a park" },
                new { type = "image_url", image_url = new { url = TestMedia.PngDataUrl } },
            },
        });

        using var response = await client.PostAsync("/v1/embeddings", Json(request));

        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        body.GetProperty("data").GetArrayLength().ShouldBe(1);
        var usage = body.GetProperty("usage");
        var textTokens = usage.GetProperty("prompt_tokens").GetInt32() - 256;
        textTokens.ShouldBeGreaterThan(0);
        usage.GetProperty("breakdown").GetProperty("input").GetProperty("visual").GetDecimal().ShouldBe(256 * 0.36m / 1_000_000m);
        usage.GetProperty("credits_charged").GetDecimal().ShouldBe(textTokens * 0.04m / 1_000_000m + 256 * 0.36m / 1_000_000m);
    }

    [Fact]
    public async Task A_video_part_is_sampled_into_frames_and_billed_as_video_tokens()
    {
        var (teamId, key) = await fixture.System.CreateTeamAsync();
        using var client = fixture.System.CreateApiClient(key);
        var request = JsonSerializer.Serialize(new { model = Model, input = new object[] { new { type = "video_url", video_url = new { url = TestMedia.Mp4DataUrl } } } });

        using var response = await client.PostAsync("/v1/embeddings", Json(request));

        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        var usage = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("usage");
        var videoTokens = usage.GetProperty("prompt_tokens").GetInt32();
        (videoTokens % 64).ShouldBe(0);
        videoTokens.ShouldBeInRange(64, 8 * 64);
        usage.GetProperty("breakdown").GetProperty("input").GetProperty("video").GetDecimal().ShouldBe(videoTokens * 0.18m / 1_000_000m);
        await Ledger.ShouldReconcileAsync(fixture.System.Database, teamId, expectedReceipts: 1);
    }

    [Fact]
    public async Task A_string_array_is_rejected_with_advice_to_loop()
    {
        var (_, key) = await fixture.System.CreateTeamAsync();
        using var client = fixture.System.CreateApiClient(key);
        var error = await (await client.PostAsync("/v1/embeddings", Json($$"""{"model":"{{Model}}","input":["a","b","c"]}""")))
            .ShouldBeErrorAsync(400, "invalid_request", "embeddings_batch_not_supported");
        error.GetProperty("message").GetString()!.ShouldContain("loop client-side");
    }

    [Fact]
    public async Task Unsupported_dimensions_get_the_seed_error_and_no_charge()
    {
        var (_, key) = await fixture.System.CreateTeamAsync(credits: 5m);
        using var client = fixture.System.CreateApiClient(key);
        var error = await (await client.PostAsync("/v1/embeddings", Json($$"""{"model":"{{Model}}","input":"Hello world.","dimensions":512}""")))
            .ShouldBeErrorAsync(400, "invalid_request", "embeddings_unsupported_dimensions");
        error.GetProperty("message").GetString().ShouldBe("Model aurous-embed-vision-1.0 only accepts 1024, 2048 for dimensions; received 512.");
        (await client.GetFromJsonAsync<JsonElement>("/v1/balance")).GetProperty("credits").GetDecimal().ShouldBe(5m);
    }

    [Theory]
    [InlineData("""{"model":"M","input":""}""", 400, "embeddings_empty_input")]
    [InlineData("""{"model":"M","input":[]}""", 400, "embeddings_empty_input")]
    [InlineData("""{"model":"M","input":[{"type":"text","text":""}]}""", 400, "embeddings_empty_input")]
    [InlineData("""{"model":"M","input":[{"type":"audio_url","audio_url":{"url":"https://x/a.mp3"}}]}""", 400, "embeddings_unknown_part_type")]
    [InlineData("""{"model":"M","input":[{"type":"image_url"}]}""", 400, "embeddings_invalid_part")]
    [InlineData("""{"model":"M","input":[{"type":"image_url","image_url":{"url":"ftp://example.com/a.png"}}]}""", 400, "invalid_media_url")]
    [InlineData("""{"model":"M","input":[1,2,3]}""", 400, "embeddings_token_input_not_supported")]
    [InlineData("""{"model":"M","input":42}""", 400, "invalid_type")]
    [InlineData("""{"model":"M"}""", 400, "missing_required_parameter")]
    [InlineData("""{"input":"hi"}""", 400, "missing_required_parameter")]
    [InlineData("""{"model":"M","input":"hi","dimensions":"big"}""", 400, "invalid_type")]
    [InlineData("""{"model":"M","input":"hi","encoding_format":"int8"}""", 400, "invalid_encoding_format")]
    [InlineData("""{"model":"M","input":"hi","temperature":1}""", 400, "unknown_parameter")]
    [InlineData("""{"model":"aurous-grow-2.0-pro","input":"hi"}""", 400, "model_not_supported")]
    [InlineData("""{"model":"text-embedding-3-small","input":"hi"}""", 404, "model_not_found")]
    [InlineData("""{"model":"M","input":"hi",""", 400, "invalid_json")]
    [InlineData("""[1]""", 400, "invalid_request_body")]
    public async Task Invalid_requests_get_precise_errors_and_cost_nothing(string body, int status, string code)
    {
        var (_, key) = await fixture.System.CreateTeamAsync(credits: 5m);
        using var client = fixture.System.CreateApiClient(key);
        await (await client.PostAsync("/v1/embeddings", Json(body.Replace("\"M\"", $"\"{Model}\"")))).ShouldBeErrorAsync(status, "invalid_request", code);
        var balance = await client.GetFromJsonAsync<JsonElement>("/v1/balance");
        balance.GetProperty("credits").GetDecimal().ShouldBe(5m);
        balance.GetProperty("held_credits").GetDecimal().ShouldBe(0m);
    }

    [Fact]
    public async Task Too_many_parts_and_too_long_a_user_are_rejected()
    {
        var (_, key) = await fixture.System.CreateTeamAsync();
        using var client = fixture.System.CreateApiClient(key);
        var parts = Enumerable.Range(0, 101).Select(i => new { type = "text", text = "t" + i });
        await (await client.PostAsync("/v1/embeddings", Json(JsonSerializer.Serialize(new { model = Model, input = parts }))))
            .ShouldBeErrorAsync(400, "invalid_request", "embeddings_too_many_items");
        await (await client.PostAsync("/v1/embeddings", Json(JsonSerializer.Serialize(new { model = Model, input = "hi", user = new string('u', 257) }))))
            .ShouldBeErrorAsync(400, "invalid_request", "invalid_user");
        // A NUL (sent as the JSON escape \u0000) cannot be stored in Postgres text: refused before any work is done.
        await (await client.PostAsync("/v1/embeddings", Json(JsonSerializer.Serialize(new { model = Model, input = "hi", user = "a\0b" }))))
            .ShouldBeErrorAsync(400, "invalid_request", "invalid_user");
    }

    [Fact]
    public async Task Input_beyond_the_context_window_is_rejected()
    {
        var (_, key) = await fixture.System.CreateTeamAsync();
        using var client = fixture.System.CreateApiClient(key);
        // " a" is one GPT-2 token; 130,000 of them exceed the 128,000-token context.
        var text = string.Concat(Enumerable.Repeat(" a", 130_000));
        await (await client.PostAsync("/v1/embeddings", Json(JsonSerializer.Serialize(new { model = Model, input = text }))))
            .ShouldBeErrorAsync(400, "invalid_request", "embeddings_context_length_exceeded");
    }

    [Fact]
    public async Task A_media_failure_names_the_part_releases_the_hold_and_charges_nothing()
    {
        var (teamId, key) = await fixture.System.CreateTeamAsync(credits: 5m);
        using var client = fixture.System.CreateApiClient(key);
        var request = JsonSerializer.Serialize(new
        {
            model = Model,
            input = new object[]
            {
                new { type = "text", text = "a cat" },
                new { type = "image_url", image_url = new { url = "http://169.254.169.254/latest/meta-data/" } },
            },
        });
        var error = await (await client.PostAsync("/v1/embeddings", Json(request))).ShouldBeErrorAsync(400, "invalid_request", "media_url_forbidden");
        error.GetProperty("message").GetString()!.ShouldContain("input[1]");

        var undecodable = JsonSerializer.Serialize(new { model = Model, input = new object[] { new { type = "image_url", image_url = new { url = "data:image/png;base64," + Convert.ToBase64String(Encoding.UTF8.GetBytes("not an image")) } } } });
        await (await client.PostAsync("/v1/embeddings", Json(undecodable))).ShouldBeErrorAsync(400, "invalid_request", "media_decode_failed");

        var balance = await client.GetFromJsonAsync<JsonElement>("/v1/balance");
        balance.GetProperty("credits").GetDecimal().ShouldBe(5m);
        balance.GetProperty("held_credits").GetDecimal().ShouldBe(0m);
        await Ledger.ShouldReconcileAsync(fixture.System.Database, teamId, expectedReceipts: 0);
    }

    [Fact]
    public async Task Estimate_returns_the_same_usage_without_a_vector_or_a_charge()
    {
        var (_, key) = await fixture.System.CreateTeamAsync(credits: 5m);
        using var client = fixture.System.CreateApiClient(key);
        var request = JsonSerializer.Serialize(new
        {
            model = Model,
            input = new object[] { new { type = "text", text = "The quick brown fox" }, new { type = "image_url", image_url = new { url = TestMedia.PngDataUrl } } },
        });

        var estimate = await (await client.PostAsync("/v1/embeddings/estimate", Json(request))).Content.ReadFromJsonAsync<JsonElement>();
        var actual = await (await client.PostAsync("/v1/embeddings", Json(request))).Content.ReadFromJsonAsync<JsonElement>();

        estimate.GetProperty("data")[0].TryGetProperty("embedding", out _).ShouldBeFalse();
        estimate.GetProperty("usage").ToString().ShouldBe(actual.GetProperty("usage").ToString());
        var charged = actual.GetProperty("usage").GetProperty("credits_charged").GetDecimal();
        (await client.GetFromJsonAsync<JsonElement>("/v1/balance")).GetProperty("credits").GetDecimal().ShouldBe(5m - charged);
    }

    [Fact]
    public async Task Keys_without_the_embeddings_scope_get_403()
    {
        var (_, key) = await fixture.System.CreateTeamAsync(scopes: ["chat"]);
        using var client = fixture.System.CreateApiClient(key);
        await (await client.PostAsync("/v1/embeddings", Json($$"""{"model":"{{Model}}","input":"hi"}""")))
            .ShouldBeErrorAsync(403, "permission_error", "permission_denied");
    }

    internal static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");
}
