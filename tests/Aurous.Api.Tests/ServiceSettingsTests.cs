using System.Net;
using System.Text;

namespace Aurous.Api.Tests;

/// <summary>
/// Each service runs with its own appsettings.json in effect. Their log filters are settings that exist only there:
/// with them, a request writes no Information line of its own to the service's console (ASP.NET Core's hosting and
/// routing lines, HttpClient's request lines), so the resource logs do not grow with the traffic.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class ServiceSettingsTests(ApiFixture fixture)
{
    private const int Requests = 40;

    [Fact]
    public async Task Embedding_requests_write_no_per_request_lines_to_the_api_or_worker_logs()
    {
        var (_, key) = await fixture.System.CreateTeamAsync();
        using var client = fixture.System.CreateApiClient(key);
        var before = await LogCountsAsync();

        for (var i = 0; i < Requests; i++)
        {
            using var response = await client.PostAsync("/v1/embeddings",
                new StringContent("""{"model":"aurous-embed-vision-1.0","input":"Hello world"}""", Encoding.UTF8, "application/json"));
            response.StatusCode.ShouldBe(HttpStatusCode.OK);
        }

        foreach (var (resource, lines) in await LogsAsync())
        {
            // ASP.NET Core's "Request starting ... /v1/embeddings" and HttpClient's "Sending HTTP request POST
            // .../internal/embeddings" both name the path; no line may.
            lines.Where(l => l.Contains("/embeddings", StringComparison.Ordinal)).ShouldBeEmpty($"{resource} logged requests");
            // Liveness pings, sweeps and health checks may log now and then, never once per request.
            (lines.Count - before[resource]).ShouldBeLessThan(Requests / 4, $"{resource} log grew with the requests:\n{string.Join('\n', lines.Skip(before[resource]))}");
        }
    }

    private async Task<Dictionary<string, int>> LogCountsAsync() =>
        (await LogsAsync()).ToDictionary(l => l.Resource, l => l.Lines.Count);

    private async Task<List<(string Resource, IReadOnlyList<string> Lines)>> LogsAsync()
    {
        var logs = new List<(string, IReadOnlyList<string>)>();
        foreach (var resource in new[] { "api", "inference-worker" })
        {
            logs.Add((resource, await fixture.System.ResourceLogAsync(resource, TimeSpan.FromSeconds(2))));
        }
        return logs;
    }
}
