using System.Text.Json;
using Aurous.Accounts;

namespace Aurous.Api.Tests.Management;

/// <summary>/v1/keys over real HTTP: the shapes, the secret shown once, validation, scopes and team isolation.</summary>
[Collection(ManagementCollection.Name)]
public sealed class KeysApiTests(ManagementFixture fixture)
{
    [Fact]
    public async Task A_created_key_shows_its_secret_once_and_is_listed_and_read_with_its_hint_only()
    {
        var (teamId, admin) = await fixture.TeamAsync();
        using var client = fixture.Client(admin);

        var created = await (await client.PostJsonAsync("/v1/keys", new { name = "  billing service  " })).JsonAsync(201);
        created.GetProperty("object").GetString().ShouldBe("api_key");
        created.GetProperty("name").GetString().ShouldBe("billing service");
        created.GetProperty("status").GetString().ShouldBe("active");
        created.GetProperty("scopes").Strings().ShouldBe(ApiKeyScopes.Inference.ToArray(), "no scopes named: the inference scopes");
        var secret = created.GetProperty("key").GetString()!;
        ApiKeySecret.IsWellFormed(secret).ShouldBeTrue();
        var id = created.GetProperty("id").GetString()!;
        created.GetProperty("hint").GetString().ShouldBe(ApiKeySecret.Hint(secret));
        created.GetProperty("last_used_at").ValueKind.ShouldBe(JsonValueKind.Null);
        created.GetProperty("grace_until").ValueKind.ShouldBe(JsonValueKind.Null);
        created.GetProperty("created_at").GetInt64().ShouldBeGreaterThan(1_700_000_000);

        using var withNewKey = fixture.Client(secret);
        (await withNewKey.GetAsync("/v1/models")).StatusCode.ShouldBe(System.Net.HttpStatusCode.OK);

        var listText = await (await client.GetAsync("/v1/keys")).Content.ReadAsStringAsync();
        listText.ShouldNotContain(secret);
        var list = JsonDocument.Parse(listText).RootElement;
        list.GetProperty("object").GetString().ShouldBe("list");
        list.GetProperty("has_more").GetBoolean().ShouldBeFalse();
        var ids = list.GetProperty("data").EnumerateArray().Select(k => k.GetProperty("id").GetString()).ToArray();
        ids.Length.ShouldBe(2);
        ids[0].ShouldBe(id, "newest first");
        list.GetProperty("data").EnumerateArray().Count(k => k.TryGetProperty("key", out var _)).ShouldBe(0, "no secret in a list");

        var getText = await (await client.GetAsync($"/v1/keys/{id}")).Content.ReadAsStringAsync();
        getText.ShouldNotContain(secret);
        var got = JsonDocument.Parse(getText).RootElement;
        got.GetProperty("id").GetString().ShouldBe(id);
        got.TryGetProperty("key", out _).ShouldBeFalse();

        await using var cmd = fixture.System.Database.CreateCommand("SELECT team_id, created_by FROM api_keys WHERE id = @id");
        cmd.Parameters.AddWithValue("id", id);
        await using var row = await cmd.ExecuteReaderAsync();
        (await row.ReadAsync()).ShouldBeTrue();
        row.GetString(0).ShouldBe(teamId);
        row.GetString(1).ShouldStartWith("key_", Case.Sensitive, "the creating key is recorded");
    }

    [Fact]
    public async Task Chosen_scopes_are_kept_in_canonical_order()
    {
        var (_, admin) = await fixture.TeamAsync();
        using var client = fixture.Client(admin);
        var created = await (await client.PostJsonAsync("/v1/keys", new { name = "reader", scopes = new[] { "management:read", "chat", "chat" } })).JsonAsync(201);
        created.GetProperty("scopes").Strings().ShouldBe(["chat", "management:read"]);
    }

    [Theory]
    [InlineData("""{"scopes":["chat"]}""", "missing_required_parameter")]
    [InlineData("""{"name":"   "}""", "missing_required_parameter")]
    [InlineData("""{"name":42}""", "invalid_type")]
    [InlineData("""{"name":"k","scopes":["chat","admin"]}""", "invalid_scope")]
    [InlineData("""{"name":"k","scopes":[]}""", "invalid_scope")]
    [InlineData("""{"name":"k","scopes":"chat"}""", "invalid_type")]
    [InlineData("""{"name":"k","owner":"me"}""", "unknown_parameter")]
    public async Task Bad_create_bodies_get_400_in_the_envelope(string body, string code)
    {
        var (_, admin) = await fixture.TeamAsync();
        using var client = fixture.Client(admin);
        using var response = await client.PostAsync("/v1/keys", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        await response.ShouldBeErrorAsync(400, "invalid_request", code);
    }

    [Fact]
    public async Task A_name_longer_than_the_limit_gets_400()
    {
        var (_, admin) = await fixture.TeamAsync();
        using var client = fixture.Client(admin);
        await (await client.PostJsonAsync("/v1/keys", new { name = new string('n', ApiKeyStore.MaxNameLength + 1) }))
            .ShouldBeErrorAsync(400, "invalid_request", "name_too_long");
        (await client.PostJsonAsync("/v1/keys", new { name = new string('n', ApiKeyStore.MaxNameLength) })).StatusCode.ShouldBe(System.Net.HttpStatusCode.Created);
    }

    [Fact]
    public async Task An_inference_only_key_gets_403_on_keys_team_and_webhook_endpoints()
    {
        var (_, key) = await fixture.TeamAsync("chat", "embeddings", "images", "videos");
        using var client = fixture.Client(key);
        await (await client.GetAsync("/v1/keys")).ShouldBeErrorAsync(403, "permission_error", "permission_denied");
        await (await client.PostJsonAsync("/v1/keys", new { name = "k" })).ShouldBeErrorAsync(403, "permission_error", "permission_denied");
        await (await client.GetAsync("/v1/team")).ShouldBeErrorAsync(403, "permission_error", "permission_denied");
        await (await client.GetAsync("/v1/webhook_endpoints")).ShouldBeErrorAsync(403, "permission_error", "permission_denied");
        await (await client.PostJsonAsync("/v1/webhook_endpoints", new { url = "https://example.com/hook", events = new[] { "job.succeeded" } }))
            .ShouldBeErrorAsync(403, "permission_error", "permission_denied");
    }

    [Fact]
    public async Task A_read_only_management_key_lists_but_cannot_change_anything()
    {
        var (_, admin) = await fixture.TeamAsync();
        using var adminClient = fixture.Client(admin);
        var readerKey = await (await adminClient.PostJsonAsync("/v1/keys", new { name = "reader", scopes = new[] { "management:read" } })).JsonAsync(201);
        using var client = fixture.Client(readerKey.GetProperty("key").GetString()!);
        var id = readerKey.GetProperty("id").GetString()!;

        (await (await client.GetAsync("/v1/keys")).JsonAsync(200)).GetProperty("data").GetArrayLength().ShouldBe(2);
        (await client.GetAsync("/v1/webhook_endpoints")).StatusCode.ShouldBe(System.Net.HttpStatusCode.OK);
        (await client.GetAsync("/v1/team")).StatusCode.ShouldBe(System.Net.HttpStatusCode.OK);
        await (await client.PostJsonAsync("/v1/keys", new { name = "k" })).ShouldBeErrorAsync(403, "permission_error", "permission_denied");
        await (await client.PostJsonAsync($"/v1/keys/{id}/rotate")).ShouldBeErrorAsync(403, "permission_error", "permission_denied");
        await (await client.PostJsonAsync($"/v1/keys/{id}/revoke")).ShouldBeErrorAsync(403, "permission_error", "permission_denied");
        await (await client.PatchAsync("/v1/team", System.Net.Http.Json.JsonContent.Create(new { api_version = ApiVersions.Default })))
            .ShouldBeErrorAsync(403, "permission_error", "permission_denied");
        await (await client.PostJsonAsync("/v1/webhook_endpoints", new { url = "https://example.com/hook", events = new[] { "job.succeeded" } }))
            .ShouldBeErrorAsync(403, "permission_error", "permission_denied");
    }

    [Fact]
    public async Task A_key_cannot_issue_or_rotate_a_key_with_scopes_it_lacks()
    {
        var (_, admin) = await fixture.TeamAsync();
        using var adminClient = fixture.Client(admin);
        var manager = await (await adminClient.PostJsonAsync("/v1/keys", new { name = "manager", scopes = new[] { "management:write" } })).JsonAsync(201);
        var chat = await (await adminClient.PostJsonAsync("/v1/keys", new { name = "chat", scopes = new[] { "chat" } })).JsonAsync(201);
        using var client = fixture.Client(manager.GetProperty("key").GetString()!);

        await (await client.PostJsonAsync("/v1/keys", new { name = "k", scopes = new[] { "chat" } })).ShouldBeErrorAsync(403, "permission_error", "permission_denied");
        await (await client.PostJsonAsync("/v1/keys", new { name = "k" })).ShouldBeErrorAsync(403, "permission_error", "permission_denied");
        await (await client.PostJsonAsync($"/v1/keys/{chat.GetProperty("id").GetString()}/rotate")).ShouldBeErrorAsync(403, "permission_error", "permission_denied");
        var reader = await (await client.PostJsonAsync("/v1/keys", new { name = "reader", scopes = new[] { "management:read" } })).JsonAsync(201);
        reader.GetProperty("scopes").Strings().ShouldBe(["management:read"], "write implies read, so it may hand out read");
        (await client.PostJsonAsync($"/v1/keys/{chat.GetProperty("id").GetString()}/revoke")).StatusCode.ShouldBe(System.Net.HttpStatusCode.OK,
            "revoking hands out nothing");
    }

    [Fact]
    public async Task Another_teams_key_or_an_unknown_id_is_404_for_get_rotate_and_revoke()
    {
        var (_, mine) = await fixture.TeamAsync();
        var (_, theirs) = await fixture.TeamAsync();
        using var theirClient = fixture.Client(theirs);
        var theirKey = await (await theirClient.PostJsonAsync("/v1/keys", new { name = "theirs" })).JsonAsync(201);
        var theirId = theirKey.GetProperty("id").GetString()!;
        using var client = fixture.Client(mine);

        foreach (var id in new[] { theirId, "key_01JUNKNOWNKEY00000000000000" })
        {
            await (await client.GetAsync($"/v1/keys/{id}")).ShouldBeErrorAsync(404, "invalid_request", "api_key_not_found");
            await (await client.PostJsonAsync($"/v1/keys/{id}/rotate")).ShouldBeErrorAsync(404, "invalid_request", "api_key_not_found");
            await (await client.PostJsonAsync($"/v1/keys/{id}/revoke")).ShouldBeErrorAsync(404, "invalid_request", "api_key_not_found");
        }
        var listed = (await (await client.GetAsync("/v1/keys")).JsonAsync(200)).GetProperty("data").EnumerateArray().Select(k => k.GetProperty("id").GetString());
        listed.ShouldNotContain(theirId);

        using var stillWorks = fixture.Client(theirKey.GetProperty("key").GetString()!);
        (await stillWorks.GetAsync("/v1/models")).StatusCode.ShouldBe(System.Net.HttpStatusCode.OK, "the other team's key was not touched");
    }

    [Fact]
    public async Task Rotating_or_revoking_a_key_that_is_not_active_is_409()
    {
        var (_, admin) = await fixture.TeamAsync();
        using var client = fixture.Client(admin);
        var id = (await (await client.PostJsonAsync("/v1/keys", new { name = "k" })).JsonAsync(201)).GetProperty("id").GetString()!;
        var rotation = await (await client.PostJsonAsync($"/v1/keys/{id}/rotate")).JsonAsync(200);
        await (await client.PostJsonAsync($"/v1/keys/{id}/rotate")).ShouldBeErrorAsync(409, "invalid_request", "api_key_not_active");

        var revoked = await (await client.PostJsonAsync($"/v1/keys/{id}/revoke")).JsonAsync(200);
        revoked.GetProperty("status").GetString().ShouldBe("revoked", "a rotated key can be revoked before its grace ends");
        revoked.GetProperty("revoked_at").GetInt64().ShouldBeGreaterThan(0);
        await (await client.PostJsonAsync($"/v1/keys/{id}/revoke")).ShouldBeErrorAsync(409, "invalid_request", "api_key_not_active");
        await (await client.PostJsonAsync($"/v1/keys/{id}/rotate")).ShouldBeErrorAsync(409, "invalid_request", "api_key_not_active");
        rotation.GetProperty("key").GetProperty("status").GetString().ShouldBe("active");
    }

    [Fact]
    public async Task The_openapi_document_describes_every_key_and_team_route()
    {
        using var client = fixture.System.CreateApiClient();
        var doc = await (await client.GetAsync("/openapi/v1.json")).JsonAsync(200);
        var paths = doc.GetProperty("paths");
        foreach (var (path, method, statuses) in new[]
        {
            ("/v1/keys", "get", new[] { "200", "401", "403" }),
            ("/v1/keys", "post", ["201", "400", "401", "403"]),
            ("/v1/keys/{id}", "get", ["200", "404"]),
            ("/v1/keys/{id}/rotate", "post", ["200", "403", "404", "409"]),
            ("/v1/keys/{id}/revoke", "post", ["200", "404", "409"]),
            ("/v1/team", "get", ["200", "403"]),
            ("/v1/team", "patch", ["200", "400", "403"]),
        })
        {
            var operation = paths.GetProperty(path).GetProperty(method);
            operation.GetProperty("summary").GetString().ShouldNotBeNullOrWhiteSpace();
            var responses = operation.GetProperty("responses").EnumerateObject().Select(r => r.Name).ToArray();
            foreach (var status in statuses)
            {
                responses.ShouldContain(status, $"{method} {path}");
            }
        }
        paths.GetProperty("/v1/keys").GetProperty("post").TryGetProperty("requestBody", out _).ShouldBeTrue();
    }
}
