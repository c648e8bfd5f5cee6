using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Aurous.Jobs.Tests;

/// <summary>The image and video endpoints as a client calls them (plain HTTP and JSON, as in the quickstart).</summary>
public static class JobClient
{
    public static readonly string[] TerminalStatuses = ["succeeded", "failed", "cancelled", "expired", "moderation_rejected"];

    /// <summary>POST /v1/images (or /v1/videos); returns the job object the API answered with.</summary>
    public static async Task<JsonElement> CreateAsync(HttpClient api, string kind, object body, string? idempotencyKey = null, string? traceParent = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/{kind}") { Content = JsonContent.Create(body) };
        request.Headers.Add("Idempotency-Key", idempotencyKey ?? Guid.NewGuid().ToString());
        if (traceParent is not null)
        {
            request.Headers.Add("traceparent", traceParent);
        }
        using var response = await api.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        ((int)response.StatusCode).ShouldBeInRange(200, 299, text);
        var job = JsonSerializer.Deserialize<JsonElement>(text);
        job.GetProperty("status").GetString().ShouldBeOneOf("pending", "processing");
        return job;
    }

    public static Task<JsonElement> CreateImageAsync(HttpClient api, string prompt, int n = 1, string size = "1k_1_1", long? seed = null, string? traceParent = null) =>
        CreateAsync(api, "images", new Dictionary<string, object?>
        {
            ["model"] = "aurous-canvas-1.0", ["prompt"] = prompt, ["size"] = size, ["n"] = n, ["seed"] = seed ?? Random.Shared.NextInt64(1, 1L << 40),
        }, traceParent: traceParent);

    public static async Task<JsonElement> GetAsync(HttpClient api, string id)
    {
        var kind = id.StartsWith("vid_", StringComparison.Ordinal) ? "videos" : "images";
        using var response = await api.GetAsync($"/v1/{kind}/{id}");
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.OK, text);
        return JsonSerializer.Deserialize<JsonElement>(text);
    }

    /// <summary>Polls GET /v1/{kind}/{id} until <paramref name="until"/> holds (default: a terminal status).</summary>
    public static async Task<JsonElement> WaitAsync(HttpClient api, string id, TimeSpan timeout, Func<JsonElement, bool>? until = null)
    {
        until ??= job => TerminalStatuses.Contains(job.GetProperty("status").GetString());
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var job = await GetAsync(api, id);
            if (until(job))
            {
                return job;
            }
            if (clock.Elapsed > timeout)
            {
                throw new TimeoutException($"job {id} did not get there in {timeout.TotalSeconds:0} s; last seen: {job}");
            }
            await Task.Delay(200);
        }
    }

    public static async Task<HttpResponseMessage> CancelAsync(HttpClient api, string id)
    {
        var kind = id.StartsWith("vid_", StringComparison.Ordinal) ? "videos" : "images";
        return await api.PostAsync($"/v1/{kind}/{id}/cancel", null);
    }

    public static string Status(this JsonElement job) => job.GetProperty("status").GetString()!;

    public static string? ErrorCode(this JsonElement job) =>
        job.GetProperty("error") is { ValueKind: JsonValueKind.Object } error ? error.GetProperty("code").GetString() : null;

    public static string[] OutputUrls(this JsonElement job) =>
        [.. job.GetProperty("output_urls").EnumerateArray().Select(u => u.GetString()!)];
}
