using System.Diagnostics;
using System.Net;
using System.Text.Json;
using OpenAI;
using System.ClientModel;

namespace Aurous.Api.Tests.Management;

/// <summary>Rotation, revocation and last use over REST, across three API instances, with the API clocks moved by a day.</summary>
[Collection(ManagementCollection.Name)]
public sealed class KeyLifecycleTests(ManagementFixture fixture)
{
    [Fact]
    public async Task A_key_revoked_over_rest_is_refused_on_the_very_next_request_on_every_instance()
    {
        await fixture.WaitForCacheListenersAsync();
        var (_, admin) = await fixture.TeamAsync();
        using var adminClient = fixture.Client(admin, "api-2");
        var created = await (await adminClient.PostJsonAsync("/v1/keys", new { name = "doomed" })).JsonAsync(201);
        var doomed = created.GetProperty("key").GetString()!;
        var clients = ManagementFixture.Instances.Select(i => fixture.Client(doomed, i)).ToArray();
        foreach (var client in clients)
        {
            // Twice: the second answer comes from the instance's key cache.
            (await client.GetAsync("/v1/models")).StatusCode.ShouldBe(HttpStatusCode.OK);
            (await client.GetAsync("/v1/models")).StatusCode.ShouldBe(HttpStatusCode.OK);
        }

        var revoked = await (await adminClient.PostJsonAsync($"/v1/keys/{created.GetProperty("id").GetString()}/revoke")).JsonAsync(200);
        revoked.GetProperty("status").GetString().ShouldBe("revoked");

        foreach (var client in clients)
        {
            await (await client.GetAsync("/v1/models")).ShouldBeErrorAsync(401, "authentication_error", "invalid_api_key");
            client.Dispose();
        }
    }

    [Fact]
    public async Task A_rotated_key_works_through_its_grace_and_fails_after_it_while_its_replacement_works()
    {
        await fixture.WaitForCacheListenersAsync();
        var (_, admin) = await fixture.TeamAsync();
        using var adminClient = fixture.Client(admin);
        var old = await (await adminClient.PostJsonAsync("/v1/keys", new { name = "worker", scopes = new[] { "chat", "embeddings" } })).JsonAsync(201);
        var oldId = old.GetProperty("id").GetString()!;
        var oldSecret = old.GetProperty("key").GetString()!;

        var rotation = await (await adminClient.PostJsonAsync($"/v1/keys/{oldId}/rotate")).JsonAsync(200);
        rotation.GetProperty("object").GetString().ShouldBe("api_key_rotation");
        var replacement = rotation.GetProperty("key");
        var newSecret = replacement.GetProperty("key").GetString()!;
        newSecret.ShouldNotBe(oldSecret);
        replacement.GetProperty("name").GetString().ShouldBe("worker");
        replacement.GetProperty("scopes").Strings().ShouldBe(["chat", "embeddings"]);
        var previous = rotation.GetProperty("previous");
        previous.TryGetProperty("key", out _).ShouldBeFalse("the old secret is never shown again");
        previous.GetProperty("status").GetString().ShouldBe("rotated");
        previous.GetProperty("replaced_by").GetString().ShouldBe(replacement.GetProperty("id").GetString());
        var graceUntil = previous.GetProperty("grace_until").GetInt64();
        (graceUntil - previous.GetProperty("created_at").GetInt64()).ShouldBeInRange(24 * 3600 - 120, 24 * 3600 + 120);

        foreach (var instance in ManagementFixture.Instances)
        {
            using var oldClient = fixture.Client(oldSecret, instance);
            (await oldClient.GetAsync("/v1/models")).StatusCode.ShouldBe(HttpStatusCode.OK, $"the old key works in its grace on {instance}");
        }
        await ModelsViaSdkAsync(newSecret);

        await fixture.System.AdvanceClockAsync(TimeSpan.FromHours(24) + TimeSpan.FromSeconds(1), ManagementFixture.Instances);

        foreach (var instance in ManagementFixture.Instances)
        {
            using var oldClient = fixture.Client(oldSecret, instance);
            await (await oldClient.GetAsync("/v1/models")).ShouldBeErrorAsync(401, "authentication_error", "invalid_api_key");
            using var newClient = fixture.Client(newSecret, instance);
            (await newClient.GetAsync("/v1/models")).StatusCode.ShouldBe(HttpStatusCode.OK);
        }
        await ModelsViaSdkAsync(newSecret);
        (await (await adminClient.GetAsync($"/v1/keys/{oldId}")).JsonAsync(200)).GetProperty("status").GetString().ShouldBe("expired");
    }

    [Fact]
    public async Task Fifty_parallel_rotations_of_one_key_issue_exactly_one_replacement()
    {
        var (teamId, admin) = await fixture.TeamAsync();
        using var setup = fixture.Client(admin);
        var id = (await (await setup.PostJsonAsync("/v1/keys", new { name = "contended" })).JsonAsync(201)).GetProperty("id").GetString()!;
        var clients = ManagementFixture.Instances.Select(i => fixture.Client(admin, i)).ToArray();

        var statuses = await Task.WhenAll(Enumerable.Range(0, 50).Select(async n =>
        {
            using var response = await clients[n % clients.Length].PostJsonAsync($"/v1/keys/{id}/rotate");
            if (response.StatusCode == HttpStatusCode.Conflict)
            {
                await response.ShouldBeErrorAsync(409, "invalid_request", "api_key_not_active");
            }
            return response.StatusCode;
        }));

        statuses.Count(s => s == HttpStatusCode.OK).ShouldBe(1);
        statuses.Count(s => s == HttpStatusCode.Conflict).ShouldBe(49);
        (await CountAsync("SELECT count(*) FROM api_keys WHERE team_id = @t AND name = 'contended'", teamId)).ShouldBe(2);
        (await CountAsync("SELECT count(*) FROM api_keys WHERE team_id = @t AND name = 'contended' AND state = 'active'", teamId)).ShouldBe(1);
        foreach (var client in clients)
        {
            client.Dispose();
        }
    }

    [Fact]
    public async Task Fifty_parallel_revocations_of_one_key_succeed_exactly_once()
    {
        var (_, admin) = await fixture.TeamAsync();
        using var setup = fixture.Client(admin);
        var id = (await (await setup.PostJsonAsync("/v1/keys", new { name = "contended" })).JsonAsync(201)).GetProperty("id").GetString()!;
        var clients = ManagementFixture.Instances.Select(i => fixture.Client(admin, i)).ToArray();

        var statuses = await Task.WhenAll(Enumerable.Range(0, 50).Select(async n =>
        {
            using var response = await clients[n % clients.Length].PostJsonAsync($"/v1/keys/{id}/revoke");
            return response.StatusCode;
        }));

        statuses.Count(s => s == HttpStatusCode.OK).ShouldBe(1);
        statuses.Count(s => s == HttpStatusCode.Conflict).ShouldBe(49);
        foreach (var client in clients)
        {
            client.Dispose();
        }
    }

    [Fact]
    public async Task Last_used_appears_after_the_key_is_used_and_the_usage_is_flushed()
    {
        var (_, admin) = await fixture.TeamAsync();
        using var adminClient = fixture.Client(admin);
        var created = await (await adminClient.PostJsonAsync("/v1/keys", new { name = "used" })).JsonAsync(201);
        var id = created.GetProperty("id").GetString()!;
        await Task.Delay(TimeSpan.FromSeconds(6)); // longer than a flush interval: nothing was recorded for an unused key
        (await (await adminClient.GetAsync($"/v1/keys/{id}")).JsonAsync(200)).GetProperty("last_used_at").ValueKind.ShouldBe(JsonValueKind.Null);

        var before = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        foreach (var instance in ManagementFixture.Instances)
        {
            using var client = fixture.Client(created.GetProperty("key").GetString()!, instance);
            (await client.GetAsync("/v1/models")).StatusCode.ShouldBe(HttpStatusCode.OK);
        }

        var waited = Stopwatch.StartNew();
        JsonElement lastUsed;
        while ((lastUsed = (await (await adminClient.GetAsync($"/v1/keys/{id}")).JsonAsync(200)).GetProperty("last_used_at")).ValueKind == JsonValueKind.Null)
        {
            waited.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(30), "the usage is written within a few flush intervals");
            await Task.Delay(250);
        }
        // The API clocks may have been moved forward by a day by the rotation test; never backward.
        lastUsed.GetInt64().ShouldBeGreaterThanOrEqualTo(before - 5);
        (await CountAsync("SELECT count(*) FROM api_key_usage WHERE key_id = @t", id)).ShouldBe(1, "one row per key, however many instances used it");
    }

    private async Task ModelsViaSdkAsync(string key)
    {
        var models = new OpenAIClient(new ApiKeyCredential(key), new OpenAIClientOptions { Endpoint = fixture.System.ApiV1 }).GetOpenAIModelClient();
        (await models.GetModelsAsync()).Value.Count.ShouldBeGreaterThan(0);
    }

    private async Task<long> CountAsync(string sql, string parameter)
    {
        await using var cmd = fixture.System.Database.CreateCommand(sql);
        cmd.Parameters.AddWithValue("t", parameter);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }
}
