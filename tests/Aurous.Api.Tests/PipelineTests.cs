using System.Net;
using System.Text;
using Aurous.Api.Pipeline;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Aurous.Api.Tests;

/// <summary>
/// The shared pipeline's handling of request bodies, exercised on a host that runs the very same pipeline with a
/// body-reading route (the public API grows its POST routes in later issues), over real HTTP.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class PipelineTests(ApiFixture fixture) : IAsyncLifetime
{
    private WebApplication _app = null!;
    private HttpClient _client = null!;

    public sealed record Payload(string Text, int Count);

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Configuration["ConnectionStrings:redis"] = fixture.System.ConnectionString("redis");
        builder.AddAurousPipeline();
        builder.Services.AddSingleton(fixture.System.Database);
        _app = builder.Build();
        _app.UseAurousPipeline();
        var v1 = _app.MapGroup("/v1").RequireApiKey();
        v1.MapPost("/echo", (Payload p) => TypedResults.Ok(p));
        v1.MapGet("/boom", string () => throw new InvalidOperationException("kaboom"));
        await _app.StartAsync();
        var (_, key) = await fixture.System.CreateTeamAsync();
        _client = new HttpClient { BaseAddress = new Uri(_app.Urls.Single()) };
        _client.DefaultRequestHeaders.Add("X-Api-Key", key);
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _app.DisposeAsync();
    }

    [Fact]
    public async Task Valid_json_is_bound_with_snake_case_names()
    {
        using var response = await _client.PostAsync("/v1/echo", Json("""{"text":"hi","count":2}"""));
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await response.Content.ReadAsStringAsync()).ShouldBe("""{"text":"hi","count":2}""");
    }

    [Theory]
    [InlineData("{\"text\":")]
    [InlineData("{\"text\":\"hi\",\"count\":\"two\"}")]
    [InlineData("not json")]
    public async Task Malformed_json_is_a_400_in_the_envelope(string body)
    {
        var error = await (await _client.PostAsync("/v1/echo", Json(body))).ShouldBeErrorAsync(400, "invalid_request", "invalid_json");
        error.GetProperty("message").GetString()!.ShouldNotContain("   at ");
    }

    [Fact]
    public async Task Oversized_bodies_are_a_413_in_the_envelope()
    {
        var big = new string('x', (int)PipelineExtensions.MaxRequestBodyBytes + 1024);
        // As curl does for large uploads: wait for 100-continue, so the early 413 arrives instead of a reset.
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/echo") { Content = Json($$"""{"text":"{{big}}","count":1}""") };
        request.Headers.ExpectContinue = true;
        using var response = await _client.SendAsync(request);
        await response.ShouldBeErrorAsync(413, "invalid_request", "request_too_large");
    }

    [Fact]
    public async Task Unauthenticated_requests_get_401_before_the_body_is_judged()
    {
        using var anonymous = new HttpClient { BaseAddress = _client.BaseAddress };
        await (await anonymous.PostAsync("/v1/echo", Json("{broken"))).ShouldBeErrorAsync(401, "authentication_error", "invalid_api_key");
    }

    [Fact]
    public async Task Crashes_are_a_500_in_the_envelope_without_internals()
    {
        var error = await (await _client.GetAsync("/v1/boom")).ShouldBeErrorAsync(500, "api_error", "internal_error");
        error.GetProperty("message").GetString()!.ShouldNotContain("kaboom");
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");
}
