using System.ClientModel;
using OpenAI;

namespace Aurous.Dashboard.Tests.Browser;

/// <summary>The API as a team's program calls it: the official OpenAI .NET SDK against /v1.</summary>
public static class Api
{
    public const string EmbeddingModel = "aurous-embed-vision-1.0";

    /// <summary>One embeddings call with <paramref name="key"/>: the HTTP status and the Aurous-Request-Id it answered with.</summary>
    public static async Task<(int Status, string? RequestId)> EmbedAsync(Aurous.Testing.AurousTestApp system, string key, string instance = "api")
    {
        var endpoint = new Uri(system.Endpoint(instance), "/v1");
        var client = new OpenAIClient(new ApiKeyCredential(key), new OpenAIClientOptions { Endpoint = endpoint }).GetEmbeddingClient(EmbeddingModel);
        try
        {
            var result = await client.GenerateEmbeddingAsync("A dashboard key at work.");
            result.Value.ToFloats().Length.ShouldBeGreaterThan(0);
            var raw = result.GetRawResponse();
            return (raw.Status, raw.Headers.TryGetValue("Aurous-Request-Id", out var id) ? id : null);
        }
        catch (ClientResultException e)
        {
            var raw = e.GetRawResponse();
            return (e.Status, raw is not null && raw.Headers.TryGetValue("Aurous-Request-Id", out var id) ? id : null);
        }
    }
}
