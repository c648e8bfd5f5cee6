using System.ClientModel;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Aurous.Inference.Contracts;
using OpenAI;

namespace Aurous.Api.Tests;

/// <summary>The vector a client receives is, float for float, the one the worker computed.</summary>
[Collection(ApiCollection.Name)]
public sealed class EmbeddingHopTests(ApiFixture fixture)
{
    private const string Model = "aurous-embed-vision-1.0";

    [Fact]
    public async Task The_sdk_and_the_float_format_receive_exactly_the_workers_floats()
    {
        var (_, key) = await fixture.System.CreateTeamAsync();
        // "Hello world" in GPT-2 ids, as the API sends it to the worker; the worker's JSON answer is its own vector.
        var workerVector = await WorkerVectorAsync("""{"model":"aurous-embed-vision-1.0","parts":[{"type":"text","token_ids":[15496,995]}]}""");
        workerVector.Length.ShouldBe(2048);

        // The official SDK, with its default encoding_format.
        var sdk = new OpenAIClient(new ApiKeyCredential(key), new OpenAIClientOptions { Endpoint = fixture.System.ApiV1 }).GetEmbeddingClient(Model);
        var fromSdk = (await sdk.GenerateEmbeddingAsync("Hello world")).Value.ToFloats().ToArray();
        fromSdk.ShouldBe(workerVector);

        // And both encoding formats asked for explicitly (v1 answers numbers for both, seed 002).
        using var client = fixture.System.CreateApiClient(key);
        foreach (var format in new[] { "float", "base64" })
        {
            using var response = await client.PostAsync("/v1/embeddings",
                new StringContent($$"""{"model":"{{Model}}","input":"Hello world","encoding_format":"{{format}}"}""", Encoding.UTF8, "application/json"));
            var body = await response.Content.ReadFromJsonAsync<JsonElement>();
            body.GetProperty("data")[0].GetProperty("embedding").EnumerateArray().Select(e => e.GetSingle()).ToArray().ShouldBe(workerVector, format);
        }
    }

    [Fact]
    public async Task A_text_and_image_request_gets_the_workers_combined_vector()
    {
        var (_, key) = await fixture.System.CreateTeamAsync();
        var workerVector = await WorkerVectorAsync(
            $$"""{"model":"{{Model}}","parts":[{"type":"text","token_ids":[15496,995]},{"type":"image_url","url":"{{TestMedia.PngDataUrl}}"}]}""");

        using var client = fixture.System.CreateApiClient(key);
        var request = JsonSerializer.Serialize(new
        {
            model = Model,
            input = new object[] { new { type = "text", text = "Hello world" }, new { type = "image_url", image_url = new { url = TestMedia.PngDataUrl } } },
        });
        using var response = await client.PostAsync("/v1/embeddings", new StringContent(request, Encoding.UTF8, "application/json"));
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();

        body.GetProperty("data")[0].GetProperty("embedding").EnumerateArray().Select(e => e.GetSingle()).ToArray().ShouldBe(workerVector);
        body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32().ShouldBe(2 + 256);
    }

    private async Task<float[]> WorkerVectorAsync(string body)
    {
        using var worker = new HttpClient { BaseAddress = fixture.System.Endpoint("inference-worker") };
        using var request = new HttpRequestMessage(HttpMethod.Post, InternalRoutes.Embeddings) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new AuthenticationHeaderValue(InternalApiKeyOptions.Scheme, fixture.System.InternalApiKey);
        using var response = await worker.SendAsync(request);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/json", await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<InternalEmbeddingResponse>(InternalJson.Options))!.Embedding;
    }
}
