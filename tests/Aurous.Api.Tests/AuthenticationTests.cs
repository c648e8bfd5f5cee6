using System.Net;
using System.Net.Http.Headers;
using Aurous.Accounts;

namespace Aurous.Api.Tests;

[Collection(ApiCollection.Name)]
public sealed class AuthenticationTests(ApiFixture fixture)
{
    [Fact]
    public async Task Key_in_X_Api_Key_or_Bearer_authenticates()
    {
        var (_, key) = await fixture.System.CreateTeamAsync();
        using var viaHeader = fixture.System.CreateApiClient(key);
        (await viaHeader.GetAsync("/v1/balance")).StatusCode.ShouldBe(HttpStatusCode.OK);

        using var viaBearer = fixture.System.CreateApiClient();
        viaBearer.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        (await viaBearer.GetAsync("/v1/balance")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("not-a-key")]
    [InlineData("al_live_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")] // well formed, unknown
    public async Task Missing_malformed_or_unknown_keys_get_401(string? key)
    {
        using var client = fixture.System.CreateApiClient(key);
        using var response = await client.GetAsync("/v1/models");
        await response.ShouldBeErrorAsync(401, "authentication_error", "invalid_api_key");
        response.Headers.WwwAuthenticate.ToString().ShouldBe("Bearer");
    }

    [Fact]
    public async Task Revoked_keys_get_401()
    {
        var (_, key) = await fixture.System.CreateTeamAsync();
        await SetStateAsync(key, "UPDATE api_keys SET state = 'revoked', revoked_at = now() WHERE key_hash = @h");
        using var client = fixture.System.CreateApiClient(key);
        await (await client.GetAsync("/v1/balance")).ShouldBeErrorAsync(401, "authentication_error", "invalid_api_key");
    }

    [Fact]
    public async Task Rotated_keys_work_until_their_grace_period_ends()
    {
        var (_, key) = await fixture.System.CreateTeamAsync();
        using var client = fixture.System.CreateApiClient(key);

        await SetStateAsync(key, "UPDATE api_keys SET state = 'rotated', grace_until = now() + interval '24 hours' WHERE key_hash = @h");
        (await client.GetAsync("/v1/balance")).StatusCode.ShouldBe(HttpStatusCode.OK);

        // The API caches keys; the change reaches it through a Postgres notification, within moments rather than at once.
        await SetStateAsync(key, "UPDATE api_keys SET grace_until = now() - interval '1 second' WHERE key_hash = @h");
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while ((await client.GetAsync("/v1/balance")).StatusCode == HttpStatusCode.OK)
        {
            waited.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(5));
            await Task.Delay(25);
        }
        await (await client.GetAsync("/v1/balance")).ShouldBeErrorAsync(401, "authentication_error", "invalid_api_key");
    }

    [Fact]
    public async Task Keys_are_stored_only_as_hashes()
    {
        var (teamId, key) = await fixture.System.CreateTeamAsync();
        await using var cmd = fixture.System.Database.CreateCommand(
            "SELECT count(*) FROM api_keys WHERE team_id = @t AND key_hash = @h AND key_hint <> @k");
        cmd.Parameters.AddWithValue("t", teamId);
        cmd.Parameters.AddWithValue("h", ApiKeySecret.Hash(key));
        cmd.Parameters.AddWithValue("k", key);
        ((long)(await cmd.ExecuteScalarAsync())!).ShouldBe(1);

        await using var leak = fixture.System.Database.CreateCommand(
            "SELECT count(*) FROM api_keys k WHERE position(@k in concat_ws('|', k.id, k.name, k.key_hint, encode(k.key_hash, 'escape'))) > 0");
        leak.Parameters.AddWithValue("k", key);
        ((long)(await leak.ExecuteScalarAsync())!).ShouldBe(0);
    }

    private async Task SetStateAsync(string key, string sql)
    {
        await using var cmd = fixture.System.Database.CreateCommand(sql);
        cmd.Parameters.AddWithValue("h", ApiKeySecret.Hash(key));
        (await cmd.ExecuteNonQueryAsync()).ShouldBe(1);
    }
}
