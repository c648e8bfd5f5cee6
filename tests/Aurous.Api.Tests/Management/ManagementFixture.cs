using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Aurous.Api.Pipeline;
using Aurous.Testing;

namespace Aurous.Api.Tests.Management;

/// <summary>
/// Its own system of three API instances: the rotation tests move the API clocks by a day, which the shared API
/// fixture's other tests must not see.
/// </summary>
public sealed class ManagementFixture : IAsyncLifetime
{
    public static readonly string[] Instances = ["api", "api-2", "api-3"];

    public AurousTestApp System { get; private set; } = null!;

    public async Task InitializeAsync() => System = await AurousTestApp.StartAsync(only: Instances, apiReplicas: Instances.Length);

    public async Task DisposeAsync() => await System.DisposeAsync();

    /// <summary>A team whose key holds <paramref name="scopes"/> (every scope when none are named).</summary>
    public Task<(string TeamId, string ApiKey)> TeamAsync(params string[] scopes) =>
        System.CreateTeamAsync(credits: 0m, scopes: scopes.Length > 0 ? scopes : null);

    public HttpClient Client(string key, string instance = "api") => System.CreateApiClient(key, instance);

    /// <summary>Waits until every instance's key-cache listener is connected, so that cached keys are really served from memory.</summary>
    public async Task WaitForCacheListenersAsync()
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            await using var cmd = System.Database.CreateCommand("SELECT count(*) FROM pg_stat_activity WHERE application_name = @n");
            cmd.Parameters.AddWithValue("n", ApiKeyCacheListener.ApplicationName);
            if ((long)(await cmd.ExecuteScalarAsync())! >= Instances.Length)
            {
                await Task.Delay(200);
                return;
            }
            waited.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(30), "every API instance's key-cache listener connects");
            await Task.Delay(50);
        }
    }
}

[CollectionDefinition(Name)]
public sealed class ManagementCollection : ICollectionFixture<ManagementFixture>
{
    public const string Name = "management";
}

public static class ManagementHttp
{
    public static Task<HttpResponseMessage> PostJsonAsync(this HttpClient client, string path, object? body = null) =>
        client.PostAsync(path, body is null ? null : JsonContent.Create(body));

    /// <summary>Asserts the status (showing the body when it differs) and returns the JSON body.</summary>
    public static async Task<JsonElement> JsonAsync(this HttpResponseMessage response, int status)
    {
        var text = await response.Content.ReadAsStringAsync();
        ((int)response.StatusCode).ShouldBe(status, text);
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    public static string[] Strings(this JsonElement array) => array.EnumerateArray().Select(e => e.GetString()!).ToArray();
}
