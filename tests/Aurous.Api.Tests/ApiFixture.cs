using System.Net.Http.Json;
using System.Text.Json;
using Aurous.Testing;

namespace Aurous.Api.Tests;

/// <summary>One running API (with real Postgres, Redis, Azurite and the inference worker) shared by the API tests.</summary>
public sealed class ApiFixture : IAsyncLifetime
{
    public AurousTestApp System { get; private set; } = null!;

    /// <summary>Three API instances share one Postgres and one Redis, as replicas behind a load balancer would.</summary>
    public static readonly string[] Instances = ["api", "api-2", "api-3"];

    public async Task InitializeAsync() => System = await AurousTestApp.StartAsync(only: Instances, apiReplicas: Instances.Length);

    public async Task DisposeAsync() => await System.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class ApiCollection : ICollectionFixture<ApiFixture>
{
    public const string Name = "api";
}

public static class ErrorAssertions
{
    /// <summary>Asserts the seeds' error envelope, and that its request_id is the one in the response header.</summary>
    public static async Task<JsonElement> ShouldBeErrorAsync(this HttpResponseMessage response, int status, string type, string code)
    {
        ((int)response.StatusCode).ShouldBe(status);
        response.Content.Headers.ContentType?.MediaType.ShouldBe("application/json");
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        var error = body.GetProperty("error");
        error.GetProperty("type").GetString().ShouldBe(type);
        error.GetProperty("code").GetString().ShouldBe(code);
        error.GetProperty("message").GetString().ShouldNotBeNullOrWhiteSpace();
        error.GetProperty("doc_url").GetString().ShouldBe("https://docs.aurous-labs.com/errors#" + code);
        error.GetProperty("request_id").GetString().ShouldBe(response.Headers.GetValues("Aurous-Request-Id").Single());
        return error;
    }
}
