using System.Net.Http.Headers;
using Aurous.Inference.Contracts;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Aurous.InferenceWorker.Tests;

/// <summary>The worker hosted in-process with an internal API key, and clients that present it.</summary>
public static class TestWorker
{
    public const string InternalApiKey = "worker-tests-internal-api-key";

    /// <summary>A worker configured by <paramref name="configure"/>, with <see cref="InternalApiKey"/> as its key.</summary>
    public static WebApplicationFactory<Program> Create(Action<IWebHostBuilder> configure) =>
        new WebApplicationFactory<Program>().WithWebHostBuilder(builder =>
        {
            builder.UseSetting(InternalApiKeyOptions.ConfigurationKey, InternalApiKey);
            configure(builder);
        });

    /// <summary>A client that sends <c>Authorization: Bearer</c> with the worker's key, as the API does.</summary>
    public static HttpClient CreateAuthorizedClient(this WebApplicationFactory<Program> factory)
    {
        var client = factory.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue(InternalApiKeyOptions.Scheme, InternalApiKey);
        return client;
    }
}
