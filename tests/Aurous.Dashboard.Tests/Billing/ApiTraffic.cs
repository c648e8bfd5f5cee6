using System.ClientModel;
using Aurous.Testing;
using OpenAI;
using OpenAI.Chat;
using OpenAI.Embeddings;

namespace Aurous.Dashboard.Tests.Billing;

/// <summary>One charged request made through the official OpenAI SDK: its request id and the usage the API reported.</summary>
public sealed record ChargedCall(string RequestId, string Model, long InputTokens, long OutputTokens);

/// <summary>Real, charged API calls (chat and embeddings) for the billing tests.</summary>
public static class ApiTraffic
{
    public const string ChatModel = "aurous-grow-2.0-pro";
    public const string EmbeddingModel = "aurous-embed-vision-1.0";

    private static OpenAIClient Client(AurousTestApp system, string key) =>
        new(new ApiKeyCredential(key), new OpenAIClientOptions { Endpoint = system.ApiV1 });

    public static async Task<ChargedCall> ChatAsync(AurousTestApp system, string key, string prompt = "Say hello.")
    {
        var result = await Client(system, key).GetChatClient(ChatModel).CompleteChatAsync(
            [new UserChatMessage(prompt)], new ChatCompletionOptions { MaxOutputTokenCount = 8 });
        return new ChargedCall(RequestId(result), ChatModel, result.Value.Usage.InputTokenCount, result.Value.Usage.OutputTokenCount);
    }

    public static async Task<ChargedCall> EmbedAsync(AurousTestApp system, string key, string text = "The quick brown fox.")
    {
        var result = await Client(system, key).GetEmbeddingClient(EmbeddingModel).GenerateEmbeddingAsync(text);
        var raw = System.Text.Json.JsonDocument.Parse(result.GetRawResponse().Content.ToString());
        var usage = raw.RootElement.GetProperty("usage");
        return new ChargedCall(RequestId(result), EmbeddingModel, usage.GetProperty("prompt_tokens").GetInt64(), 0);
    }

    private static string RequestId(ClientResult result) =>
        result.GetRawResponse().Headers.TryGetValue("Aurous-Request-Id", out var id) && id is not null
            ? id : throw new InvalidOperationException("The API sent no Aurous-Request-Id.");
}
