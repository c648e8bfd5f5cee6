using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Aurous.Inference.Contracts;
using Aurous.ModelForge;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Aurous.InferenceWorker.Tests;

/// <summary>A worker with generated models, to call with and without its internal API key.</summary>
public sealed class KeyedWorkerFixture : IAsyncLifetime
{
    private readonly TempModels _models = new();
    private WebApplicationFactory<Program> _factory = null!;

    public WebApplicationFactory<Program> Factory => _factory;

    public async Task InitializeAsync()
    {
        Forge.EnsureGenerated(_models.Catalog());
        _factory = TestWorker.Create(builder =>
        {
            builder.UseSetting("Models:Path", _models.Directory);
            builder.UseSetting("Inference:ExecutionProvider", "cpu");
        });
        using var client = _factory.CreateClient();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (JsonDocument.Parse(await client.GetStringAsync("/v1/info")).RootElement.GetProperty("status").GetString() == "loading"
            && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }
    }

    public async Task DisposeAsync()
    {
        await _factory.DisposeAsync();
        _models.Dispose();
    }
}

public sealed class InternalApiKeyTests(KeyedWorkerFixture fx) : IClassFixture<KeyedWorkerFixture>
{
    private static readonly object Embedding = new { model = "aurous-embed-vision-1.0", parts = new[] { new { type = "text", token_ids = new[] { 15496, 995 } } } };

    [Theory]
    [InlineData(InternalRoutes.Embeddings)]
    [InlineData(InternalRoutes.ChatCompletions)]
    [InlineData("/internal/not-a-route")]
    public async Task Without_a_credential_internal_routes_answer_401_in_the_internal_error_shape(string route)
    {
        using var client = fx.Factory.CreateClient();

        using var response = await client.PostAsJsonAsync(route, Embedding);

        await ShouldBeRefused(response);
    }

    [Theory]
    [InlineData("Bearer", "not-the-key-but-long-enough")]
    [InlineData("Bearer", TestWorker.InternalApiKey + "x")]
    [InlineData("Bearer", "")]
    [InlineData("Basic", TestWorker.InternalApiKey)]
    public async Task A_wrong_credential_answers_401(string scheme, string key)
    {
        using var client = fx.Factory.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, InternalRoutes.Embeddings) { Content = JsonContent.Create(Embedding) };
        request.Headers.TryAddWithoutValidation("Authorization", $"{scheme} {key}");

        using var response = await client.SendAsync(request);

        await ShouldBeRefused(response);
    }

    [Fact]
    public async Task The_right_credential_is_served()
    {
        using var client = fx.Factory.CreateAuthorizedClient();

        using var response = await client.PostAsJsonAsync(InternalRoutes.Embeddings, Embedding);

        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        response.StatusCode.ShouldBe(HttpStatusCode.OK, body.ToString());
        body.GetProperty("embedding").GetArrayLength().ShouldBe(2048);
    }

    [Theory]
    [InlineData("/health")]
    [InlineData("/alive")]
    [InlineData("/v1/info")]
    public async Task Health_and_info_need_no_credential(string route)
    {
        using var client = fx.Factory.CreateClient();

        using var response = await client.GetAsync(route);

        response.StatusCode.ShouldNotBe(HttpStatusCode.Unauthorized);
        response.IsSuccessStatusCode.ShouldBeTrue();
    }

    private static async Task ShouldBeRefused(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized, text);
        response.Headers.WwwAuthenticate.ShouldContain(new AuthenticationHeaderValue("Bearer"));
        var error = JsonDocument.Parse(text).RootElement.GetProperty("error");
        error.GetProperty("code").GetString().ShouldBe("unauthorized");
        error.GetProperty("part").ValueKind.ShouldBe(JsonValueKind.Null);
    }
}

/// <summary>Run alone: these hosts start and stop in-process, next to nothing else.</summary>
[CollectionDefinition(nameof(WorkerStartupTests), DisableParallelization = true)]
public sealed class WorkerStartupCollection;

[Collection(nameof(WorkerStartupTests))]
public sealed class WorkerStartupTests
{
    /// <summary>
    /// The worker's own service registration (what its Program runs), started as a host: start-up validation must refuse
    /// it with a message naming the setting. The host is built here rather than through WebApplicationFactory, whose
    /// deferred host can lose a failed start's exception to a disposed service provider when the machine is busy.
    /// </summary>
    [Theory]
    [InlineData(null)]
    [InlineData("short")]
    public async Task A_worker_without_a_usable_key_refuses_to_start_and_says_why(string? key)
    {
        using var models = new TempModels(copyRepositoryManifests: false);
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Testing" });
        builder.Configuration["Models:Path"] = models.Directory;
        builder.Configuration[InternalApiKeyOptions.ConfigurationKey] = key;
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.AddInferenceServices();
        await using var app = builder.Build();

        var error = await Should.ThrowAsync<Exception>(() => app.StartAsync());

        Messages(error).ShouldContain(m => m.Contains("InternalApi:Key", StringComparison.Ordinal) && m.Contains("InternalApi__Key", StringComparison.Ordinal),
            error.ToString());
    }

    private static IEnumerable<string> Messages(Exception? error)
    {
        for (; error is not null; error = error.InnerException)
        {
            yield return error.Message;
        }
    }
}
