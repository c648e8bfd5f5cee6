using System.ClientModel;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;

namespace Aurous.Api.Tests;

/// <summary>image_url parts in chat: encoded by the model's vision encoder, billed as visual tokens, same media rules as embeddings.</summary>
[Collection(ApiCollection.Name)]
public sealed class ChatVisionTests(ApiFixture fixture)
{
    private const string Model = "aurous-grow-2.0-pro";
    /// <summary>The manifest's media.image_tokens for this model.</summary>
    private const int ImageTokens = 16;

    private ChatClient Sdk(string key) => new OpenAIClient(new ApiKeyCredential(key), new OpenAIClientOptions { Endpoint = fixture.System.ApiV1 }).GetChatClient(Model);

    private static ChatCompletionOptions Greedy(int max = 16) => new() { MaxOutputTokenCount = max, Temperature = 0f, Seed = 1 };

    private static UserChatMessage Ask(byte[] png) =>
        new(ChatMessageContentPart.CreateTextPart("What is in this picture?"), ChatMessageContentPart.CreateImagePart(BinaryData.FromBytes(png), "image/png"));

    [Fact]
    public async Task The_SDK_sends_an_image_which_is_billed_as_visual_tokens()
    {
        var (teamId, key) = await fixture.System.CreateTeamAsync(credits: 10m);

        var withImage = (await Sdk(key).CompleteChatAsync([Ask(TestMedia.Png)], Greedy())).Value;
        var textOnly = (await Sdk(key).CompleteChatAsync([new UserChatMessage("What is in this picture?")], Greedy())).Value;

        withImage.Content[0].Text.ShouldNotBeNullOrEmpty();
        // The image block: vision start + 16 visual tokens + vision end.
        withImage.Usage.InputTokenCount.ShouldBe(textOnly.Usage.InputTokenCount + ImageTokens + 2);
        var expected = (withImage.Usage.InputTokenCount - ImageTokens) * 0.21m / 1_000_000m + ImageTokens * 0.21m / 1_000_000m
            + withImage.Usage.OutputTokenCount * 0.84m / 1_000_000m
            + textOnly.Usage.InputTokenCount * 0.21m / 1_000_000m + textOnly.Usage.OutputTokenCount * 0.84m / 1_000_000m;
        using var http = fixture.System.CreateApiClient(key);
        var balance = await http.GetFromJsonAsync<JsonElement>("/v1/balance");
        balance.GetProperty("credits").GetDecimal().ShouldBe(10m - expected);
        balance.GetProperty("held_credits").GetDecimal().ShouldBe(0m);
        await Ledger.ShouldReconcileAsync(fixture.System.Database, teamId, expectedReceipts: 2);

        var stored = await http.GetFromJsonAsync<JsonElement>($"/v1/chat/completions/{withImage.Id}");
        var usage = stored.GetProperty("usage");
        usage.GetProperty("prompt_tokens_details").GetProperty("image_tokens").GetInt32().ShouldBe(ImageTokens);
        usage.GetProperty("breakdown").GetProperty("input").GetProperty("visual").GetDecimal().ShouldBe(ImageTokens * 0.21m / 1_000_000m);
    }

    [Fact]
    public async Task The_answer_depends_on_the_image()
    {
        var (_, key) = await fixture.System.CreateTeamAsync(credits: 10m);
        var client = Sdk(key);

        var first = (await client.CompleteChatAsync([Ask(TestMedia.Png)], Greedy(24))).Value.Content[0].Text;
        var again = (await client.CompleteChatAsync([Ask(TestMedia.Png)], Greedy(24))).Value.Content[0].Text;
        var other = (await client.CompleteChatAsync([Ask(TestMedia.OtherPng)], Greedy(24))).Value.Content[0].Text;

        again.ShouldBe(first);
        other.ShouldNotBe(first);
    }

    [Fact]
    public async Task Streaming_with_an_image_matches_the_sync_answer()
    {
        var (_, key) = await fixture.System.CreateTeamAsync(credits: 10m);
        var client = Sdk(key);
        var sync = (await client.CompleteChatAsync([Ask(TestMedia.Png)], Greedy(24))).Value;

        var streamed = new StringBuilder();
        await foreach (var update in client.CompleteChatStreamingAsync([Ask(TestMedia.Png)], Greedy(24)))
        {
            foreach (var part in update.ContentUpdate)
            {
                streamed.Append(part.Text);
            }
        }

        streamed.ToString().ShouldBe(sync.Content[0].Text);
    }

    [Theory]
    [InlineData("http://169.254.169.254/latest/meta-data/", "media_url_forbidden")]
    [InlineData("data:image/png;base64,bm90IGFuIGltYWdl", "media_decode_failed")]
    public async Task Unusable_images_are_a_400_and_cost_nothing(string url, string code)
    {
        var (_, key) = await fixture.System.CreateTeamAsync(credits: 5m);
        using var http = fixture.System.CreateApiClient(key);
        var body = JsonSerializer.Serialize(new
        {
            model = Model,
            messages = new object[] { new { role = "user", content = new object[] { new { type = "text", text = "look" }, new { type = "image_url", image_url = new { url } } } } },
        });

        await (await http.PostAsync("/v1/chat/completions", EmbeddingsTests.Json(body))).ShouldBeErrorAsync(400, "invalid_request", code);

        var balance = await http.GetFromJsonAsync<JsonElement>("/v1/balance");
        balance.GetProperty("credits").GetDecimal().ShouldBe(5m);
        balance.GetProperty("held_credits").GetDecimal().ShouldBe(0m);
    }

    [Theory]
    [InlineData("""[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://example.com/a.png"}}]}]""", "invalid_media_url")]
    [InlineData("""[{"role":"user","content":[{"type":"image_url"}]}]""", "invalid_content_part")]
    [InlineData("""[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://example.com/a.png","detail":"ultra"}}]}]""", "invalid_content_part")]
    [InlineData("""[{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://example.com/a.png"}}]}]""", "invalid_content_part")]
    [InlineData("""[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]""", "invalid_content_part")]
    public async Task Malformed_image_parts_get_precise_400s(string messages, string code)
    {
        var (_, key) = await fixture.System.CreateTeamAsync(credits: 5m);
        using var http = fixture.System.CreateApiClient(key);
        await (await http.PostAsync("/v1/chat/completions", EmbeddingsTests.Json($$"""{"model":"{{Model}}","messages":{{messages}}}"""))).ShouldBeErrorAsync(400, "invalid_request", code);
    }

    [Fact]
    public async Task At_most_16_images_per_request()
    {
        var (_, key) = await fixture.System.CreateTeamAsync(credits: 5m);
        using var http = fixture.System.CreateApiClient(key);
        var parts = Enumerable.Range(0, 17).Select(_ => (object)new { type = "image_url", image_url = new { url = TestMedia.PngDataUrl } }).ToArray();
        var body = JsonSerializer.Serialize(new { model = Model, messages = new object[] { new { role = "user", content = parts } } });
        await (await http.PostAsync("/v1/chat/completions", EmbeddingsTests.Json(body))).ShouldBeErrorAsync(400, "invalid_request", "too_many_images");
    }
}
