using System.ClientModel;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Aurous.Testing;
using OpenAI;

namespace Aurous.EndToEnd.Tests;

/// <summary>The whole system, booted from the AppHost's application model, used the way a developer would.</summary>
public sealed class SystemFixture : IAsyncLifetime
{
    public AurousTestApp System { get; private set; } = null!;

    public async Task InitializeAsync() => System = await AurousTestApp.StartAsync();

    public async Task DisposeAsync() => await System.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class SystemCollection : ICollectionFixture<SystemFixture>
{
    public const string Name = "system";
}

[Collection(SystemCollection.Name)]
public sealed class SystemTests(SystemFixture fixture)
{
    private Dictionary<string, string> DevEnv() => File.ReadAllLines(fixture.System.Settings.DevEnvPath)
        .Where(l => l.Contains('='))
        .ToDictionary(l => l[..l.IndexOf('=')], l => l[(l.IndexOf('=') + 1)..]);

    [Fact]
    public async Task The_official_OpenAI_SDK_lists_and_gets_models_with_the_seeded_dev_key()
    {
        var env = DevEnv();
        var client = new OpenAIClient(new ApiKeyCredential(env["AUROUS_API_KEY"]), new OpenAIClientOptions { Endpoint = new Uri(env["AUROUS_BASE_URL"]) });
        var models = client.GetOpenAIModelClient();

        var list = (await models.GetModelsAsync()).Value;
        list.Select(m => m.Id).ShouldBe(["aurous-canvas-1.0", "aurous-embed-vision-1.0", "aurous-grow-2.0-pro", "aurous-motion-1.0"], ignoreOrder: true);
        list.ShouldAllBe(m => m.OwnedBy == "aurous-labs");
        list.First().CreatedAt.ShouldBe(DateTimeOffset.FromUnixTimeSeconds(1778803200));

        var one = (await models.GetModelAsync("aurous-embed-vision")).Value;
        one.Id.ShouldBe("aurous-embed-vision-1.0");

        var error = await Should.ThrowAsync<ClientResultException>(() => models.GetModelAsync("gpt-4o"));
        error.Status.ShouldBe(404);
    }

    [Fact]
    public async Task The_SDK_surfaces_a_401_for_a_wrong_key()
    {
        var client = new OpenAIClient(new ApiKeyCredential("al_live_" + new string('0', 64)), new OpenAIClientOptions { Endpoint = fixture.System.ApiV1 });
        var error = await Should.ThrowAsync<ClientResultException>(() => client.GetOpenAIModelClient().GetModelsAsync());
        error.Status.ShouldBe(401);
    }

    [Fact]
    public async Task Dev_env_points_at_the_api_and_the_seeded_balance_is_1000_credits()
    {
        var env = DevEnv();
        env["AUROUS_API_KEY"].ShouldMatch("^al_live_[0-9a-f]{64}$");
        env["AUROUS_BASE_URL"].ShouldBe(fixture.System.ApiV1.ToString().TrimEnd('/'));
        env["AUROUS_DASHBOARD_URL"].ShouldBe(fixture.System.Endpoint("dashboard").ToString().TrimEnd('/'));

        using var http = new HttpClient();
        http.DefaultRequestHeaders.Add("X-Api-Key", env["AUROUS_API_KEY"]);
        var balance = await http.GetFromJsonAsync<JsonElement>(env["AUROUS_BASE_URL"] + "/balance");
        balance.GetProperty("credits").GetDecimal().ShouldBe(1000m);
        balance.GetProperty("held_credits").GetDecimal().ShouldBe(0m);
        balance.GetProperty("available_credits").GetDecimal().ShouldBe(1000m);
        balance.GetProperty("currency").GetString().ShouldBe("credit");
    }

    [Fact]
    public async Task The_worker_reports_onnx_runtime_its_provider_and_loaded_models()
    {
        using var http = new HttpClient { BaseAddress = fixture.System.Endpoint("inference-worker") };
        var info = await http.GetFromJsonAsync<JsonElement>("/v1/info");
        // The runtime the build pins, and (under the default "auto") CUDA where the host has it, CPU otherwise.
        var pinned = Regex.Match(
            File.ReadAllText(Path.Combine(fixture.System.Settings.RepoRoot, "Directory.Packages.props")),
            "\"Microsoft\\.ML\\.OnnxRuntime\\.Managed\" Version=\"\\[([^\\]]+)\\]\"").Groups[1].Value;
        info.GetProperty("onnxruntime_version").GetString().ShouldBe(pinned);
        var provider = info.GetProperty("execution_provider").GetString();
        provider.ShouldBeOneOf("CUDAExecutionProvider", "CPUExecutionProvider");
        info.GetProperty("available_providers").EnumerateArray().Select(p => p.GetString()).ShouldContain(provider);
        var embed = info.GetProperty("models").EnumerateArray().Single(m => m.GetProperty("id").GetString() == "aurous-embed-vision-1.0");
        embed.GetProperty("status").GetString().ShouldBe("loaded");
        embed.GetProperty("output_dimension").GetInt32().ShouldBe(2048);
    }

    [Fact]
    public async Task The_dashboard_asks_for_a_sign_in_and_dev_env_names_the_development_user()
    {
        var env = DevEnv();
        env["AUROUS_DASHBOARD_EMAIL"].ShouldBe("dev@aurous.local");
        env["AUROUS_DASHBOARD_PASSWORD"].Length.ShouldBeGreaterThanOrEqualTo(12);

        using var http = new HttpClient { BaseAddress = fixture.System.Endpoint("dashboard") };
        using var response = await http.GetAsync("/");
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        response.RequestMessage!.RequestUri!.AbsolutePath.ShouldBe("/account/sign-in");
        var html = await response.Content.ReadAsStringAsync();
        html.ShouldContain("<h1>Sign in</h1>");
        html.ShouldContain("<label for=\"email\">Email</label>");
        html.ShouldContain("<label for=\"password\">Password</label>");
        (await http.GetAsync("/health")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Stopping_the_application_leaves_no_process_behind()
    {
        var pids = await fixture.System.ProcessIdsAsync();
        pids.Count.ShouldBe(6); // postgres, redis, blobs, inference-worker, api, dashboard
        pids.ShouldAllBe(pid => ProcessTree.IsAlive(pid));
        var descendants = pids.SelectMany(ProcessTree.Descendants).ToArray();
        descendants.ShouldNotBeEmpty(); // postgres' own workers at least

        // A second, private copy so the shared fixture stays up for the other tests.
        await using var copy = await AurousTestApp.StartAsync(only: ["postgres", "redis"]);
        var copyPids = (await copy.ProcessIdsAsync()).SelectMany(p => ProcessTree.Descendants(p).Prepend(p)).ToArray();
        copyPids.Length.ShouldBeGreaterThanOrEqualTo(2);
        await copy.App.StopAsync();
        await ProcessTree.WaitUntilGoneAsync(copyPids, TimeSpan.FromSeconds(10));
        copyPids.ShouldAllBe(pid => !ProcessTree.IsAlive(pid));
    }

    [Theory]
    [InlineData("api", "/v1/models", "src/Aurous.Api")]
    [InlineData("inference-worker", "/v1/info", "src/Aurous.InferenceWorker")]
    [InlineData("dashboard", "/", "src/Aurous.Dashboard")]
    public async Task Each_service_runs_in_its_own_content_root_with_its_own_settings(string resource, string path, string project)
    {
        using (var http = new HttpClient { BaseAddress = fixture.System.Endpoint(resource) })
        {
            (await http.GetAsync(path)).Dispose();
        }
        var lines = await fixture.System.ResourceLogAsync(resource);
        // Its own folder is the content root, so its appsettings.json is loaded...
        var root = Path.Combine(fixture.System.Settings.RepoRoot, project);
        lines.ShouldContain(l => l.Contains("Content root path: " + root, StringComparison.Ordinal), string.Join('\n', lines.TakeLast(20)));
        // ...and its log filter is in effect: ASP.NET Core's per-request Information lines are not written.
        lines.ShouldNotContain(l => l.Contains("Request starting", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_workers_internal_endpoints_refuse_callers_without_the_internal_key()
    {
        using var http = new HttpClient { BaseAddress = fixture.System.Endpoint("inference-worker") };
        const string Body = """{"model":"aurous-embed-vision-1.0","parts":[{"type":"text","token_ids":[15496,995]}]}""";

        using var anonymous = await http.PostAsync("/internal/embeddings", new StringContent(Body, System.Text.Encoding.UTF8, "application/json"));
        anonymous.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);

        using var wrong = new HttpRequestMessage(HttpMethod.Post, "/internal/embeddings") { Content = new StringContent(Body, System.Text.Encoding.UTF8, "application/json") };
        wrong.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", new string('x', 48));
        (await http.SendAsync(wrong)).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);

        using var right = new HttpRequestMessage(HttpMethod.Post, "/internal/embeddings") { Content = new StringContent(Body, System.Text.Encoding.UTF8, "application/json") };
        right.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", fixture.System.InternalApiKey);
        (await http.SendAsync(right)).StatusCode.ShouldBe(HttpStatusCode.OK);
    }
}
