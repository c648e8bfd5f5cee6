using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Aurous.Accounts;
using Aurous.Jobs;
using Aurous.Testing;

namespace Aurous.Api.Tests.Jobs;

/// <summary>POST /v1/images and /v1/videos and their estimate, GET, list and cancel, through real HTTP on the real system.</summary>
[Collection(ApiCollection.Name)]
public sealed class ImagesApiTests(ApiFixture fixture)
{
    private const string Prompt = "A confident woman in lace lingerie, soft studio lighting, cinematic";

    [Fact]
    public async Task Creating_an_image_answers_202_with_the_pending_row_and_holds_exactly_its_price()
    {
        var (teamId, key) = await fixture.System.CreateTeamAsync(credits: 1m);
        using var client = fixture.System.CreateApiClient(key);

        using var response = await client.PostAsync("/v1/images", Json($$"""{"prompt":"{{Prompt}}","size":"2k_1_1"}"""));

        response.StatusCode.ShouldBe(HttpStatusCode.Accepted);
        var row = await response.Content.ReadFromJsonAsync<JsonElement>();
        var id = row.GetProperty("id").GetString()!;
        id.ShouldStartWith("img_");
        id.Length.ShouldBe(30);
        response.Headers.Location!.ToString().ShouldBe("/v1/images/" + id);
        row.GetProperty("object").GetString().ShouldBe("image");
        row.GetProperty("model").GetString().ShouldBe("aurous-canvas-1.0");
        row.GetProperty("status").GetString().ShouldBe("pending");
        row.GetProperty("prompt").GetString().ShouldBe(Prompt);
        row.GetProperty("negative_prompt").ValueKind.ShouldBe(JsonValueKind.Null);
        row.GetProperty("size").GetString().ShouldBe("2k_1_1");
        row.GetProperty("width").GetInt32().ShouldBe(2048);
        row.GetProperty("height").GetInt32().ShouldBe(2048);
        row.GetProperty("n").GetInt32().ShouldBe(1);
        row.GetProperty("seed").GetInt64().ShouldBeGreaterThanOrEqualTo(0, "a seed is drawn when none is given, and returned");
        row.GetProperty("lora_id").ValueKind.ShouldBe(JsonValueKind.Null);
        row.GetProperty("output_urls").GetArrayLength().ShouldBe(0);
        row.GetProperty("error").ValueKind.ShouldBe(JsonValueKind.Null);
        row.GetProperty("created_at").GetInt64().ShouldBeInRange(DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 120, DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 5);
        row.GetProperty("completed_at").ValueKind.ShouldBe(JsonValueKind.Null);
        // One token per 32x32 tile: 64 x 64 = 4,096 tokens at 10 credits per 1M.
        var usage = row.GetProperty("usage");
        usage.GetProperty("output_tokens").GetInt64().ShouldBe(4096);
        usage.GetProperty("credits_estimated").GetDecimal().ShouldBe(0.04096m);
        usage.GetProperty("credits_charged").GetDecimal().ShouldBe(0m);
        usage.GetProperty("breakdown").GetProperty("output").GetProperty("image").GetDecimal().ShouldBe(0.04096m);

        var balance = await new Accounts.Ledger(fixture.System.Database).GetBalanceAsync(teamId);
        (balance.Credits, balance.HeldCredits).ShouldBe((1m, 0.04096m), "held, not charged: the job captures when it succeeds");
        await using (var cmd = fixture.System.Database.CreateCommand("SELECT trace_parent, (spec->>'seed')::bigint FROM generation_jobs WHERE id = @id"))
        {
            cmd.Parameters.AddWithValue("id", id);
            await using var r = await cmd.ExecuteReaderAsync();
            (await r.ReadAsync()).ShouldBeTrue();
            r.GetString(0).ShouldMatch("^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$", "the create request's traceparent, for one trace per job");
            r.GetInt64(1).ShouldBe(row.GetProperty("seed").GetInt64());
        }

        var got = await client.GetFromJsonAsync<JsonElement>("/v1/images/" + id);
        got.GetProperty("id").GetString().ShouldBe(id);
        got.GetProperty("seed").GetInt64().ShouldBe(row.GetProperty("seed").GetInt64());
        (await LedgerAudit.RunAsync(fixture.System.Database, teamId, allowOpenHolds: true)).ShouldBeClean();
    }

    [Fact]
    public async Task A_given_seed_lora_and_negative_prompt_are_kept_and_n_multiplies_the_price()
    {
        var (_, key) = await fixture.System.CreateTeamAsync(credits: 1m);
        using var client = fixture.System.CreateApiClient(key);

        using var response = await client.PostAsync("/v1/images", Json("""
            {"prompt":"a harbour at night","negative_prompt":"blurry","size":"1k_16_9","n":3,"seed":9007199254740991,"lora_id":"canvas-watercolor","model":"aurous-canvas"}
            """));

        response.StatusCode.ShouldBe(HttpStatusCode.Accepted);
        var row = await response.Content.ReadFromJsonAsync<JsonElement>();
        row.GetProperty("model").GetString().ShouldBe("aurous-canvas-1.0", "the alias resolves to the model id");
        row.GetProperty("seed").GetInt64().ShouldBe(9007199254740991);
        row.GetProperty("negative_prompt").GetString().ShouldBe("blurry");
        row.GetProperty("lora_id").GetString().ShouldBe("canvas-watercolor");
        row.GetProperty("lora_source").GetString().ShouldBe("request");
        row.GetProperty("n").GetInt32().ShouldBe(3);
        // 1024 x 576: 32 x 18 tiles = 576 tokens per image, x 3.
        row.GetProperty("usage").GetProperty("output_tokens").GetInt64().ShouldBe(1728);
        row.GetProperty("usage").GetProperty("credits_estimated").GetDecimal().ShouldBe(0.01728m);
    }

    [Fact]
    public async Task Estimates_price_images_and_videos_by_the_token_rule_and_charge_nothing()
    {
        var (teamId, key) = await fixture.System.CreateTeamAsync(credits: 1m);
        using var client = fixture.System.CreateApiClient(key);

        using var image = await client.PostAsync("/v1/images/estimate", Json($$"""{"prompt":"{{Prompt}}","size":"2k_1_1"}"""));
        using var images = await client.PostAsync("/v1/images/estimate", Json("""{"prompt":"p","size":"1k_1_1","n":2,"lora_id":"canvas-ink-sketch"}"""));
        using var video = await client.PostAsync("/v1/videos/estimate", Json("""{"prompt":"waves","size":"480p_16_9"}"""));

        image.StatusCode.ShouldBe(HttpStatusCode.OK);
        var body = await image.Content.ReadFromJsonAsync<JsonElement>();
        body.GetProperty("object").GetString().ShouldBe("image.estimate");
        body.GetProperty("credits").GetDecimal().ShouldBe(0.04096m);
        body.GetProperty("usage").GetProperty("output_tokens").GetInt64().ShouldBe(4096);
        body.GetProperty("usage").GetProperty("credits_charged").GetDecimal().ShouldBe(0m);
        body.TryGetProperty("id", out _).ShouldBeFalse("an estimate creates no job");
        (await images.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("credits").GetDecimal().ShouldBe(0.02048m);
        // 832 x 480 = 26 x 15 tiles = 390 tokens per frame; 4 s x 12 frames = 48 frames; 18,720 tokens at 2 per 1M.
        var v = await video.Content.ReadFromJsonAsync<JsonElement>();
        v.GetProperty("object").GetString().ShouldBe("video.estimate");
        v.GetProperty("frames").GetInt32().ShouldBe(48);
        v.GetProperty("duration_seconds").GetDouble().ShouldBe(4);
        v.GetProperty("usage").GetProperty("output_tokens").GetInt64().ShouldBe(18720);
        v.GetProperty("credits").GetDecimal().ShouldBe(0.03744m);

        var balance = await new Accounts.Ledger(fixture.System.Database).GetBalanceAsync(teamId);
        (balance.Credits, balance.HeldCredits).ShouldBe((1m, 0m));
        (await ScalarAsync<long>("SELECT count(*) FROM generation_jobs WHERE team_id = @p", teamId)).ShouldBe(0);
        (await LedgerAudit.RunAsync(fixture.System.Database, teamId)).ShouldBeClean();
    }

    [Theory]
    [InlineData("images", """{}""", "missing_required_parameter")]
    [InlineData("images", """{"prompt":""}""", "missing_required_parameter")]
    [InlineData("images", """{"prompt":"   "}""", "empty_prompt")]
    [InlineData("images", """{"prompt":42}""", "invalid_type")]
    [InlineData("images", """{"prompt":"p","size":"3k_1_1"}""", "invalid_size")]
    [InlineData("images", """{"prompt":"p","size":"480p_16_9"}""", "invalid_size")]
    [InlineData("images", """{"prompt":"p","n":0}""", "invalid_n")]
    [InlineData("images", """{"prompt":"p","n":5}""", "invalid_n")]
    [InlineData("images", """{"prompt":"p","n":"2"}""", "invalid_type")]
    [InlineData("images", """{"prompt":"p","n":1.5}""", "invalid_type")]
    [InlineData("images", """{"prompt":"p","seed":-1}""", "invalid_seed")]
    [InlineData("images", """{"prompt":"p","seed":9007199254740992}""", "invalid_seed")]
    [InlineData("images", """{"prompt":"p","seed":"7"}""", "invalid_type")]
    [InlineData("images", """{"prompt":"p","lora_id":"no-such-style"}""", "lora_not_found")]
    [InlineData("images", """{"prompt":"p","lora_id":7}""", "invalid_type")]
    [InlineData("images", """{"prompt":"p","model":"aurous-embed-vision-1.0"}""", "model_not_supported")]
    [InlineData("images", """{"prompt":"p","model":"aurous-motion-1.0"}""", "model_not_supported")]
    [InlineData("images", """{"prompt":"p","quality":"hd"}""", "unknown_parameter")]
    [InlineData("images", """{"prompt":"p","duration_seconds":4}""", "unknown_parameter")]
    [InlineData("images", """{"prompt":"p","prompt":"q"}""", "invalid_json")]
    [InlineData("images", """[{"prompt":"p"}]""", "invalid_request_body")]
    [InlineData("images", """{"prompt":"p",""", "invalid_json")]
    [InlineData("videos", """{"prompt":"p","duration_seconds":0.5}""", "invalid_duration")]
    [InlineData("videos", """{"prompt":"p","duration_seconds":9}""", "invalid_duration")]
    [InlineData("videos", """{"prompt":"p","duration_seconds":"4"}""", "invalid_type")]
    [InlineData("videos", """{"prompt":"p","size":"1k_1_1"}""", "invalid_size")]
    [InlineData("videos", """{"prompt":"p","lora_id":"canvas-watercolor"}""", "lora_model_mismatch")]
    [InlineData("videos", """{"prompt":"p","n":2}""", "unknown_parameter")]
    public async Task Bad_requests_get_a_clear_400_and_hold_nothing(string route, string body, string code)
    {
        var (teamId, key) = await fixture.System.CreateTeamAsync(credits: 1m);
        using var client = fixture.System.CreateApiClient(key);

        foreach (var path in new[] { $"/v1/{route}", $"/v1/{route}/estimate" })
        {
            using var response = await client.PostAsync(path, Json(body));
            var error = await response.ShouldBeErrorAsync(400, "invalid_request", code);
            if (code == "invalid_size")
            {
                error.GetProperty("message").GetString()!.ShouldContain(route == "images" ? "1k_1_1, 1k_4_3" : "480p_16_9, 480p_9_16, 480p_1_1");
            }
        }
        (await new Accounts.Ledger(fixture.System.Database).GetBalanceAsync(teamId)).HeldCredits.ShouldBe(0m);
        (await ScalarAsync<long>("SELECT count(*) FROM generation_jobs WHERE team_id = @p", teamId)).ShouldBe(0);
    }

    [Fact]
    public async Task Over_long_prompts_and_unknown_models_are_refused_clearly()
    {
        var (_, key) = await fixture.System.CreateTeamAsync(credits: 1m);
        using var client = fixture.System.CreateApiClient(key);

        var longPrompt = new string('a', 4001);
        (await (await client.PostAsync("/v1/images", Json($$"""{"prompt":"{{longPrompt}}"}""")))
            .ShouldBeErrorAsync(400, "invalid_request", "prompt_too_long")).GetProperty("message").GetString()!.ShouldContain("4000");
        (await client.PostAsync("/v1/images", Json($$"""{"prompt":"p","negative_prompt":"{{longPrompt}}"}""")))
            .StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        await (await client.PostAsync("/v1/images", Json("""{"prompt":"p","model":"dall-e-3"}"""))).ShouldBeErrorAsync(404, "invalid_request", "model_not_found");
        (await client.PostAsync("/v1/images", Json($$"""{"prompt":"{{new string('a', 4000)}}","size":"1k_1_1"}"""))).StatusCode.ShouldBe(HttpStatusCode.Accepted);
    }

    [Fact]
    public async Task An_idempotent_create_makes_one_job_with_one_hold_and_replays_it()
    {
        var (teamId, key) = await fixture.System.CreateTeamAsync(credits: 1m);
        using var client = fixture.System.CreateApiClient(key);
        var idempotencyKey = Guid.NewGuid().ToString();

        var first = await SendAsync(client, "/v1/images", """{"prompt":"a fox","size":"1k_1_1"}""", idempotencyKey);
        var second = await SendAsync(client, "/v1/images", """{ "size" : "1k_1_1", "prompt" : "a fox" }""", idempotencyKey);
        var different = await SendAsync(client, "/v1/images", """{"prompt":"a wolf","size":"1k_1_1"}""", idempotencyKey);

        first.StatusCode.ShouldBe(HttpStatusCode.Accepted);
        second.StatusCode.ShouldBe(HttpStatusCode.Accepted);
        second.Headers.GetValues("Aurous-Idempotent-Replayed").Single().ShouldBe("true");
        first.Headers.Contains("Aurous-Idempotent-Replayed").ShouldBeFalse();
        var firstBody = await first.Content.ReadAsByteArrayAsync();
        (await second.Content.ReadAsByteArrayAsync()).ShouldBe(firstBody, "a replay is the original response byte for byte (same id, same seed)");
        await different.ShouldBeErrorAsync(409, "idempotency_error", "idempotency_key_in_use");

        (await ScalarAsync<long>("SELECT count(*) FROM generation_jobs WHERE team_id = @p", teamId)).ShouldBe(1);
        (await ScalarAsync<long>("SELECT count(*) FROM credit_holds WHERE team_id = @p", teamId)).ShouldBe(1);
        (await new Accounts.Ledger(fixture.System.Database).GetBalanceAsync(teamId)).HeldCredits.ShouldBe(0.01024m);
        (await LedgerAudit.RunAsync(fixture.System.Database, teamId, allowOpenHolds: true)).ShouldBeClean();
    }

    [Fact]
    public async Task A_team_that_cannot_cover_the_price_gets_402_and_no_job()
    {
        var (teamId, key) = await fixture.System.CreateTeamAsync(credits: 0.04m);
        using var client = fixture.System.CreateApiClient(key);

        await (await client.PostAsync("/v1/images", Json("""{"prompt":"p","size":"2k_1_1"}"""))).ShouldBeErrorAsync(402, "insufficient_credits", "insufficient_credits");

        (await ScalarAsync<long>("SELECT count(*) FROM generation_jobs WHERE team_id = @p", teamId)).ShouldBe(0);
        (await LedgerAudit.RunAsync(fixture.System.Database, teamId)).ShouldBeClean();
        (await client.PostAsync("/v1/images", Json("""{"prompt":"p","size":"1k_1_1"}"""))).StatusCode.ShouldBe(HttpStatusCode.Accepted, "0.01024 fits");
    }

    [Fact]
    public async Task Images_need_the_images_scope_and_videos_the_videos_scope()
    {
        var (teamId, _) = await fixture.System.CreateTeamAsync(credits: 1m);
        var (_, chatOnly) = await new ApiKeyStore(fixture.System.Database).CreateAsync(teamId, "chat only", ["chat"]);
        var (_, imagesOnly) = await new ApiKeyStore(fixture.System.Database).CreateAsync(teamId, "images only", ["images"]);
        using var chat = fixture.System.CreateApiClient(chatOnly);
        using var images = fixture.System.CreateApiClient(imagesOnly);

        await (await chat.PostAsync("/v1/images", Json("""{"prompt":"p"}"""))).ShouldBeErrorAsync(403, "permission_error", "permission_denied");
        await (await chat.GetAsync("/v1/images")).ShouldBeErrorAsync(403, "permission_error", "permission_denied");
        await (await images.PostAsync("/v1/videos", Json("""{"prompt":"p"}"""))).ShouldBeErrorAsync(403, "permission_error", "permission_denied");
        (await images.PostAsync("/v1/images", Json("""{"prompt":"p"}"""))).StatusCode.ShouldBe(HttpStatusCode.Accepted);
        (await chat.GetAsync("/v1/loras")).StatusCode.ShouldBe(HttpStatusCode.OK, "the style list needs only a key");
    }

    [Fact]
    public async Task A_video_job_is_a_vid_row_with_its_duration_and_frames()
    {
        var (teamId, key) = await fixture.System.CreateTeamAsync(credits: 1m);
        using var client = fixture.System.CreateApiClient(key);

        using var response = await client.PostAsync("/v1/videos", Json("""{"prompt":"waves on a beach","size":"480p_1_1","duration_seconds":2.5,"seed":7}"""));

        response.StatusCode.ShouldBe(HttpStatusCode.Accepted);
        var row = await response.Content.ReadFromJsonAsync<JsonElement>();
        var id = row.GetProperty("id").GetString()!;
        id.ShouldStartWith("vid_");
        row.GetProperty("object").GetString().ShouldBe("video");
        row.GetProperty("model").GetString().ShouldBe("aurous-motion-1.0");
        row.GetProperty("duration_seconds").GetDouble().ShouldBe(2.5);
        row.GetProperty("frames").GetInt32().ShouldBe(30);
        // 512 x 512 = 256 tiles x 30 frames = 7,680 tokens at 2 per 1M.
        row.GetProperty("usage").GetProperty("credits_estimated").GetDecimal().ShouldBe(0.01536m);
        (await client.GetFromJsonAsync<JsonElement>("/v1/videos/" + id)).GetProperty("id").GetString().ShouldBe(id);
        await (await client.GetAsync("/v1/images/" + id)).ShouldBeErrorAsync(404, "invalid_request", "image_not_found");
        (await ScalarAsync<string>("SELECT endpoint FROM credit_holds WHERE job_id = @p", id)).ShouldBe("videos");
    }

    [Fact]
    public async Task Another_teams_job_is_not_found_to_get_or_cancel()
    {
        var (_, owner) = await fixture.System.CreateTeamAsync(credits: 1m);
        var (_, stranger) = await fixture.System.CreateTeamAsync(credits: 1m);
        using var ownerClient = fixture.System.CreateApiClient(owner);
        using var strangerClient = fixture.System.CreateApiClient(stranger);
        var id = (await (await ownerClient.PostAsync("/v1/images", Json("""{"prompt":"p"}"""))).Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;

        await (await strangerClient.GetAsync("/v1/images/" + id)).ShouldBeErrorAsync(404, "invalid_request", "image_not_found");
        await (await strangerClient.PostAsync($"/v1/images/{id}/cancel", null)).ShouldBeErrorAsync(404, "invalid_request", "image_not_found");
        await (await strangerClient.GetAsync("/v1/images/img_01JD0000000000000000000000")).ShouldBeErrorAsync(404, "invalid_request", "image_not_found");
        await (await strangerClient.GetAsync("/v1/images/not-an-id")).ShouldBeErrorAsync(404, "invalid_request", "image_not_found");
        (await strangerClient.GetFromJsonAsync<JsonElement>("/v1/images")).GetProperty("data").GetArrayLength().ShouldBe(0);
        (await ownerClient.GetAsync("/v1/images/" + id)).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Lists_are_newest_first_in_pages_with_a_cursor()
    {
        var (_, key) = await fixture.System.CreateTeamAsync(credits: 1m);
        using var client = fixture.System.CreateApiClient(key);
        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            ids.Add((await (await client.PostAsync("/v1/images", Json($$"""{"prompt":"picture {{i}}"}"""))).Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!);
            await Task.Delay(5);
        }
        await client.PostAsync("/v1/videos", Json("""{"prompt":"a video is not an image"}"""));

        var page1 = await client.GetFromJsonAsync<JsonElement>("/v1/images?limit=2");
        var page2 = await client.GetFromJsonAsync<JsonElement>("/v1/images?limit=2&after=" + page1.GetProperty("last_id").GetString());
        var all = await client.GetFromJsonAsync<JsonElement>("/v1/images");

        page1.GetProperty("object").GetString().ShouldBe("list");
        page1.GetProperty("data").EnumerateArray().Select(j => j.GetProperty("id").GetString()!).ToArray().ShouldBe(new[] { ids[2], ids[1] });
        page1.GetProperty("first_id").GetString().ShouldBe(ids[2]);
        page1.GetProperty("last_id").GetString().ShouldBe(ids[1]);
        page1.GetProperty("has_more").GetBoolean().ShouldBeTrue();
        page2.GetProperty("data").EnumerateArray().Select(j => j.GetProperty("id").GetString()!).ToArray().ShouldBe(new[] { ids[0] });
        page2.GetProperty("has_more").GetBoolean().ShouldBeFalse();
        all.GetProperty("data").GetArrayLength().ShouldBe(3);
        all.GetProperty("data")[0].GetProperty("prompt").GetString().ShouldBe("picture 2");
        (await client.GetFromJsonAsync<JsonElement>("/v1/videos")).GetProperty("data").GetArrayLength().ShouldBe(1);

        await (await client.GetAsync("/v1/images?limit=0")).ShouldBeErrorAsync(400, "invalid_request", "invalid_limit");
        await (await client.GetAsync("/v1/images?limit=101")).ShouldBeErrorAsync(400, "invalid_request", "invalid_limit");
        await (await client.GetAsync("/v1/images?after=vid_01JD0000000000000000000000")).ShouldBeErrorAsync(400, "invalid_request", "invalid_cursor");
        await (await client.GetAsync("/v1/images?limit=abc")).ShouldBeErrorAsync(400, "invalid_request", "invalid_limit");
    }

    [Fact]
    public async Task Cancelling_a_pending_job_ends_it_and_gives_the_credits_back_and_an_ended_job_is_409()
    {
        var (teamId, key) = await fixture.System.CreateTeamAsync(credits: 1m);
        using var client = fixture.System.CreateApiClient(key);
        // A job stored as the API stores it but not queued, so it stays pending whatever the runner does.
        var store = new JobStore(fixture.System.Database, new CreditHolds(fixture.System.Database), TimeProvider.System);
        var job = await PendingJobAsync(fixture.System.Database, store, teamId, 0.5m);
        (await new Accounts.Ledger(fixture.System.Database).GetBalanceAsync(teamId)).AvailableCredits.ShouldBe(0.5m);

        using var cancel = await client.PostAsync($"/v1/images/{job.Id}/cancel", null);

        cancel.StatusCode.ShouldBe(HttpStatusCode.OK);
        var row = await cancel.Content.ReadFromJsonAsync<JsonElement>();
        row.GetProperty("status").GetString().ShouldBe("cancelled");
        row.GetProperty("usage").GetProperty("credits_charged").GetDecimal().ShouldBe(0m);
        row.GetProperty("completed_at").ValueKind.ShouldBe(JsonValueKind.Number);
        var balance = await new Accounts.Ledger(fixture.System.Database).GetBalanceAsync(teamId);
        (balance.Credits, balance.HeldCredits, balance.AvailableCredits).ShouldBe((1m, 0m, 1m));
        (await LedgerAudit.RunAsync(fixture.System.Database, teamId)).ShouldBeClean();

        await (await client.PostAsync($"/v1/images/{job.Id}/cancel", null)).ShouldBeErrorAsync(409, "invalid_request", "job_not_cancellable");
        (await client.GetFromJsonAsync<JsonElement>("/v1/images/" + job.Id)).GetProperty("status").GetString().ShouldBe("cancelled");

        // A processing job is flagged for the runner, which stops it within one step.
        var running = await PendingJobAsync(fixture.System.Database, store, teamId, 0.25m);
        await store.StartAsync(running.Id, default);
        using var flagged = await client.PostAsync($"/v1/images/{running.Id}/cancel", null);
        flagged.StatusCode.ShouldBe(HttpStatusCode.Accepted);
        (await flagged.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("status").GetString().ShouldBe("processing");
        (await store.IsCancelRequestedAsync(running.Id, default)).ShouldBeTrue();
    }

    [Fact]
    public async Task Loras_are_listed_with_their_base_model_and_an_anonymous_preview()
    {
        var (_, key) = await fixture.System.CreateTeamAsync(credits: 1m);
        using var client = fixture.System.CreateApiClient(key);

        var list = await client.GetFromJsonAsync<JsonElement>("/v1/loras");
        var one = await client.GetFromJsonAsync<JsonElement>("/v1/loras/canvas-watercolor");

        list.GetProperty("object").GetString().ShouldBe("list");
        list.GetProperty("data").EnumerateArray().Select(l => l.GetProperty("id").GetString()).ShouldContain("canvas-watercolor");
        one.GetProperty("object").GetString().ShouldBe("lora");
        one.GetProperty("name").GetString().ShouldNotBeNullOrWhiteSpace();
        one.GetProperty("description").GetString().ShouldNotBeNullOrWhiteSpace();
        one.GetProperty("trigger_words").GetArrayLength().ShouldBeGreaterThan(0);
        one.GetProperty("base_model").GetString().ShouldBe("aurous-canvas-1.0");
        var preview = new Uri(one.GetProperty("preview_url").GetString()!);
        preview.AbsolutePath.ShouldBe("/v1/loras/canvas-watercolor/preview.png");
        await (await client.GetAsync("/v1/loras/nope")).ShouldBeErrorAsync(404, "invalid_request", "lora_not_found");

        using var anonymous = fixture.System.CreateApiClient();
        using var image = await anonymous.GetAsync(preview.PathAndQuery);
        image.StatusCode.ShouldBe(HttpStatusCode.OK);
        image.Content.Headers.ContentType!.MediaType.ShouldBe("image/png");
        (await image.Content.ReadAsByteArrayAsync())[..8].ShouldBe(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A });
        await (await anonymous.GetAsync("/v1/loras")).ShouldBeErrorAsync(401, "authentication_error", "invalid_api_key");
    }

    [Fact]
    public async Task The_OpenAPI_document_lists_the_generation_routes_with_their_errors()
    {
        using var client = fixture.System.CreateApiClient();
        var doc = JsonDocument.Parse(await client.GetStringAsync("/openapi/v1.json")).RootElement.GetProperty("paths");

        foreach (var path in new[]
                 {
                     "/v1/images", "/v1/images/estimate", "/v1/images/{id}", "/v1/images/{id}/cancel",
                     "/v1/videos", "/v1/videos/estimate", "/v1/videos/{id}", "/v1/videos/{id}/cancel",
                     "/v1/loras", "/v1/loras/{id}", "/v1/loras/{id}/preview.png", "/v1/outputs/{token}",
                 })
        {
            doc.TryGetProperty(path, out _).ShouldBeTrue(path);
        }
        var create = doc.GetProperty("/v1/images").GetProperty("post").GetProperty("responses");
        foreach (var status in new[] { "202", "400", "402", "403", "409" })
        {
            create.TryGetProperty(status, out _).ShouldBeTrue("POST /v1/images documents " + status);
        }
        doc.GetProperty("/v1/outputs/{token}").GetProperty("get").GetProperty("responses").TryGetProperty("410", out _).ShouldBeTrue();
    }

    /// <summary>A job stored as the API stores it (hold placed, then handed over), but never queued.</summary>
    internal static async Task<NewJob> PendingJobAsync(Npgsql.NpgsqlDataSource db, JobStore store, string teamId, decimal price)
    {
        var requestId = Persistence.Ulid.NewId("req");
        var holdId = (await new CreditHolds(db).TryPlaceAsync(teamId, requestId, "images", "aurous-canvas-1.0", price)).ShouldNotBeNull();
        var now = DateTimeOffset.UtcNow;
        var job = new NewJob(JobStore.NewId(JobKind.Image, now), teamId, "key_test", requestId, JobKind.Image,
            new GenerationSpec("aurous-canvas-1.0", "a quiet lake", null, "1k_1_1", 1024, 1024, 1, 1, null, null), null, holdId, price,
            """{"output":{"image":1024}}""", """{"input":{},"output":{"image":10.0}}""", JsonSerializer.Serialize(new { output = new { image = price } }), null, now, now.AddHours(1));
        await store.CreateAsync(job, null, default);
        return job;
    }

    private static async Task<HttpResponseMessage> SendAsync(HttpClient client, string path, string body, string idempotencyKey)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = Json(body) };
        request.Headers.Add("Idempotency-Key", idempotencyKey);
        return await client.SendAsync(request);
    }

    private async Task<T> ScalarAsync<T>(string sql, string p)
    {
        await using var cmd = fixture.System.Database.CreateCommand(sql);
        cmd.Parameters.AddWithValue("p", p);
        return (T)(await cmd.ExecuteScalarAsync())!;
    }

    internal static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");
}
