using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Aurous.Accounts;

namespace Aurous.Api.Tests;

[Collection(ApiCollection.Name)]
public sealed class ModelsAndBalanceTests(ApiFixture fixture)
{
    [Fact]
    public async Task Models_are_listed_in_openai_shape_with_kind_and_metadata_from_the_catalog()
    {
        var (_, key) = await fixture.System.CreateTeamAsync();
        using var client = fixture.System.CreateApiClient(key);
        var list = await client.GetFromJsonAsync<JsonElement>("/v1/models");
        list.GetProperty("object").GetString().ShouldBe("list");
        var rows = list.GetProperty("data").EnumerateArray().ToDictionary(r => r.GetProperty("id").GetString()!);
        rows.Keys.ShouldBe(["aurous-canvas-1.0", "aurous-embed-vision-1.0", "aurous-grow-2.0-pro", "aurous-motion-1.0"], ignoreOrder: true);

        var embed = rows["aurous-embed-vision-1.0"];
        embed.GetProperty("object").GetString().ShouldBe("model");
        embed.GetProperty("owned_by").GetString().ShouldBe("aurous-labs");
        embed.GetProperty("kind").GetString().ShouldBe("embedding");
        var meta = embed.GetProperty("aurous_metadata");
        meta.GetProperty("context_window").GetInt32().ShouldBe(128000);
        meta.GetProperty("dimensions").EnumerateArray().Select(d => d.GetInt32()).ShouldBe([1024, 2048]);
        meta.GetProperty("max_input_items").GetInt32().ShouldBe(100);
        meta.GetProperty("capabilities").EnumerateArray().Select(c => c.GetString()).ShouldContain("multimodal_input");
        var rates = meta.GetProperty("credit_rates");
        rates.GetProperty("input").GetProperty("text").GetDecimal().ShouldBe(0.04m);
        rates.GetProperty("input").GetProperty("visual").GetDecimal().ShouldBe(0.36m);
        rates.GetProperty("input").GetProperty("video").GetDecimal().ShouldBe(0.18m);

        var chat = rows["aurous-grow-2.0-pro"];
        chat.GetProperty("kind").GetString().ShouldBe("chat");
        chat.GetProperty("aurous_metadata").GetProperty("context_window").GetInt32().ShouldBe(256000);
        chat.GetProperty("aurous_metadata").GetProperty("dimensions").ValueKind.ShouldBe(JsonValueKind.Null);
        chat.GetProperty("aurous_metadata").GetProperty("credit_rates").GetProperty("output").GetProperty("text").GetDecimal().ShouldBe(0.84m);

        var canvas = rows["aurous-canvas-1.0"];
        canvas.GetProperty("kind").GetString().ShouldBe("image");
        canvas.GetProperty("aurous_metadata").GetProperty("credit_rates").GetProperty("output").GetProperty("image").GetDecimal().ShouldBe(10.0m);
        var motion = rows["aurous-motion-1.0"];
        motion.GetProperty("kind").GetString().ShouldBe("video");
        motion.GetProperty("aurous_metadata").GetProperty("credit_rates").GetProperty("output").GetProperty("video").GetDecimal().ShouldBe(2.0m);
    }

    [Fact]
    public async Task A_model_is_found_by_id_or_alias_and_unknown_ids_are_404()
    {
        var (_, key) = await fixture.System.CreateTeamAsync();
        using var client = fixture.System.CreateApiClient(key);
        (await client.GetFromJsonAsync<JsonElement>("/v1/models/aurous-grow-2.0-pro")).GetProperty("id").GetString().ShouldBe("aurous-grow-2.0-pro");
        (await client.GetFromJsonAsync<JsonElement>("/v1/models/aurous-embed-vision")).GetProperty("id").GetString().ShouldBe("aurous-embed-vision-1.0");
        await (await client.GetAsync("/v1/models/gpt-4o")).ShouldBeErrorAsync(404, "invalid_request", "model_not_found");
    }

    [Fact]
    public async Task Balance_is_computed_from_the_ledger_and_open_holds()
    {
        var (teamId, key) = await fixture.System.CreateTeamAsync(credits: 100m);
        using var client = fixture.System.CreateApiClient(key);
        (await client.GetStringAsync("/v1/balance"))
            .ShouldBe("""{"credits":100,"held_credits":0,"available_credits":100,"currency":"credit"}""");

        var holds = new CreditHolds(fixture.System.Database);
        (await holds.TryPlaceAsync(teamId, "req_a", "test", "m", 4m)).ShouldNotBeNull();
        var captured = (await holds.TryPlaceAsync(teamId, "req_b", "test", "m", 3m))!;
        (await holds.CaptureAsync(new Capture(captured, teamId, "req_b", "key_test", "test", "m", 2.51m, "{}", "{}", "{}", null))).ShouldNotBeNull();
        var released = (await holds.TryPlaceAsync(teamId, "req_c", "test", "m", 50m))!;
        (await holds.ReleaseAsync(released)).ShouldBeTrue();

        var balance = await client.GetFromJsonAsync<JsonElement>("/v1/balance");
        balance.GetProperty("credits").GetDecimal().ShouldBe(97.49m);
        balance.GetProperty("held_credits").GetDecimal().ShouldBe(4m);
        balance.GetProperty("available_credits").GetDecimal().ShouldBe(93.49m);
        balance.GetProperty("currency").GetString().ShouldBe("credit");
    }

    [Fact]
    public async Task Each_team_sees_only_its_own_balance()
    {
        var (_, rich) = await fixture.System.CreateTeamAsync(credits: 500m);
        var (_, poor) = await fixture.System.CreateTeamAsync(credits: 0m);
        using var richClient = fixture.System.CreateApiClient(rich);
        using var poorClient = fixture.System.CreateApiClient(poor);
        (await richClient.GetFromJsonAsync<JsonElement>("/v1/balance")).GetProperty("credits").GetDecimal().ShouldBe(500m);
        (await poorClient.GetFromJsonAsync<JsonElement>("/v1/balance")).GetProperty("credits").GetDecimal().ShouldBe(0m);
    }

    [Fact]
    public async Task Health_reports_postgres_redis_and_the_worker()
    {
        using var client = fixture.System.CreateApiClient();
        using var response = await client.GetAsync("/health");
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var checks = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("checks");
        checks.GetProperty("postgres").GetProperty("status").GetString().ShouldBe("healthy");
        checks.GetProperty("redis").GetProperty("status").GetString().ShouldBe("healthy");
        var worker = checks.GetProperty("inference-worker");
        worker.GetProperty("status").GetString().ShouldBe("healthy");
        // The provider the worker actually runs on, whichever the host offers.
        using var workerHttp = new HttpClient { BaseAddress = fixture.System.Endpoint("inference-worker") };
        var info = await workerHttp.GetFromJsonAsync<JsonElement>("/v1/info");
        worker.GetProperty("data").GetProperty("worker").GetProperty("checks").GetProperty("models")
            .GetProperty("data").GetProperty("execution_provider").GetString().ShouldBe(info.GetProperty("execution_provider").GetString());
        (await client.GetAsync("/alive")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }
}
