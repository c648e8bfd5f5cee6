using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Aurous.Testing;

namespace Aurous.EndToEnd.Tests;

/// <summary>A system whose worker the tests kill (and start again), apart from the one the other tests share.</summary>
public sealed class WorkerOutageFixture : IAsyncLifetime
{
    public AurousTestApp System { get; private set; } = null!;

    public async Task InitializeAsync() => System = await AurousTestApp.StartAsync(only: ["api"]);

    public async Task DisposeAsync() => await System.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class WorkerOutageCollection : ICollectionFixture<WorkerOutageFixture>
{
    public const string Name = "worker-outage";
}

/// <summary>A worker that dies mid-generation.</summary>
[Collection(WorkerOutageCollection.Name)]
public sealed class WorkerFailureTests(WorkerOutageFixture fixture)
{
    [Fact]
    public async Task A_worker_that_dies_mid_stream_ends_the_stream_with_an_error_event_and_charges_nothing()
    {
        var system = fixture.System;
        await system.EnsureHealthyAsync("inference-worker");
        var (teamId, key) = await system.CreateTeamAsync(credits: 10m);
        using var http = system.CreateApiClient(key);
        // The schema forces thousands of tokens (1024 integers at least), so the generation is still running when the worker dies.
        const string Body = """
            {"model":"aurous-grow-2.0-pro","messages":[{"role":"user","content":"Count."}],"stream":true,"max_tokens":100000,
             "response_format":{"type":"json_schema","json_schema":{"name":"numbers","schema":{"type":"object","properties":{"n":{"type":"array","items":{"type":"integer"},"minItems":1024}},"required":["n"],"additionalProperties":false}}}}
            """;
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(Body, Encoding.UTF8, "application/json") };
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());

        string? completionId = null;
        for (var chunks = 0; chunks < 5;)
        {
            var line = await reader.ReadLineAsync();
            line.ShouldNotBeNull();
            if (line.StartsWith("data: {", StringComparison.Ordinal))
            {
                completionId ??= JsonDocument.Parse(line["data: ".Length..]).RootElement.GetProperty("id").GetString();
                chunks++;
            }
        }
        var worker = await system.ProcessIdAsync("inference-worker");
        Process.GetProcessById(worker).Kill(entireProcessTree: true);

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var rest = await reader.ReadToEndAsync(timeout.Token);
        var events = rest.Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        var last = JsonDocument.Parse(events[^1]["data: ".Length..]).RootElement;
        last.GetProperty("error").GetProperty("code").GetString().ShouldBe("model_unavailable");
        last.GetProperty("error").GetProperty("request_id").GetString().ShouldStartWith("req_");
        rest.ShouldNotContain("[DONE]");
        rest.ShouldNotContain("\"usage\"");

        // The hold is released, nothing is charged, and the failed completion is not stored.
        var balance = await http.GetFromJsonAsync<JsonElement>("/v1/balance");
        balance.GetProperty("credits").GetDecimal().ShouldBe(10m);
        balance.GetProperty("held_credits").GetDecimal().ShouldBe(0m);
        await using (var receipts = system.Database.CreateCommand("SELECT count(*) FROM usage_receipts WHERE team_id = @t"))
        {
            receipts.Parameters.AddWithValue("t", teamId);
            ((long)(await receipts.ExecuteScalarAsync())!).ShouldBe(0);
        }
        using var stored = await http.GetAsync($"/v1/chat/completions/{completionId}");
        stored.StatusCode.ShouldBe(HttpStatusCode.NotFound);

        // With the worker gone, a new request is a clear 503 before any stream starts.
        using var next = await http.PostAsync("/v1/chat/completions", new StringContent(
            """{"model":"aurous-grow-2.0-pro","messages":[{"role":"user","content":"hi"}],"stream":true,"max_tokens":4}""", Encoding.UTF8, "application/json"));
        next.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
        (await next.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetProperty("code").GetString().ShouldBe("model_unavailable");
    }
}
