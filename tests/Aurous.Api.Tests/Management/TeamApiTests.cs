using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using Aurous.Accounts;

namespace Aurous.Api.Tests.Management;

/// <summary>/v1/team: the pinned API version (what requests without Aurous-Version get) and the rate limits in force.</summary>
[Collection(ManagementCollection.Name)]
public sealed class TeamApiTests(ManagementFixture fixture)
{
    [Fact]
    public async Task The_team_shows_its_pin_and_the_platform_default_rate_limits_until_it_has_its_own()
    {
        var (teamId, key) = await fixture.TeamAsync();
        using var client = fixture.Client(key);
        var team = await (await client.GetAsync("/v1/team")).JsonAsync(200);
        team.GetProperty("object").GetString().ShouldBe("team");
        team.GetProperty("id").GetString().ShouldBe(teamId);
        team.GetProperty("api_version").GetString().ShouldBe(ApiVersions.Default);
        team.GetProperty("released_api_versions").Strings().ShouldBe(ApiVersions.Released.ToArray());
        var limits = team.GetProperty("rate_limits");
        limits.GetProperty("requests_per_minute").GetInt32().ShouldBe(PlatformRateLimits.RequestsPerMinute);
        limits.GetProperty("tokens_per_minute").GetInt32().ShouldBe(PlatformRateLimits.TokensPerMinute);
        limits.GetProperty("team_requests_per_minute").ValueKind.ShouldBe(System.Text.Json.JsonValueKind.Null);
        (await client.GetAsync("/v1/models")).Headers.GetValues("X-RateLimit-Limit").Single()
            .ShouldBe(PlatformRateLimits.RequestsPerMinute.ToString(), "the limit shown is the limit enforced");

        await fixture.System.SetLimitsAsync(teamId, rpm: 321, tpm: null);
        limits = (await (await client.GetAsync("/v1/team")).JsonAsync(200)).GetProperty("rate_limits");
        limits.GetProperty("requests_per_minute").GetInt32().ShouldBe(321);
        limits.GetProperty("team_requests_per_minute").GetInt32().ShouldBe(321);
        limits.GetProperty("tokens_per_minute").GetInt32().ShouldBe(PlatformRateLimits.TokensPerMinute);
    }

    [Theory]
    [InlineData("""{"api_version":"2026-06-01"}""", "unsupported_api_version")]
    [InlineData("""{"api_version":"May 15"}""", "unsupported_api_version")]
    [InlineData("""{}""", "missing_required_parameter")]
    [InlineData("""{"api_version":20260515}""", "invalid_type")]
    [InlineData("""{"api_version":"2026-05-15","rpm_limit":5}""", "unknown_parameter")]
    public async Task Bad_settings_get_400_and_change_nothing(string body, string code)
    {
        var (teamId, key) = await fixture.TeamAsync();
        using var client = fixture.Client(key);
        using var response = await client.PatchAsync("/v1/team", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        await response.ShouldBeErrorAsync(400, "invalid_request", code);
        (await new TeamStore(fixture.System.Database).GetSettingsAsync(teamId))!.ApiVersion.ShouldBe(ApiVersions.Default);
    }

    [Fact]
    public async Task Requests_without_Aurous_Version_get_the_teams_pin_on_every_instance_from_the_next_request_after_it_changes()
    {
        await fixture.WaitForCacheListenersAsync();
        var (teamId, key) = await fixture.TeamAsync();
        var clients = ManagementFixture.Instances.Select(i => fixture.Client(key, i)).ToArray();
        foreach (var client in clients)
        {
            (await VersionAsync(client)).ShouldBe(ApiVersions.Default);
            (await VersionAsync(client)).ShouldBe(ApiVersions.Default);
        }

        // Only one version is released, so a team on another pin can only be written directly: an older pin.
        const string OlderPin = "2026-01-01";
        await using (var cmd = fixture.System.Database.CreateCommand("UPDATE teams SET api_version = @v WHERE id = @t"))
        {
            cmd.Parameters.AddWithValue("v", OlderPin);
            cmd.Parameters.AddWithValue("t", teamId);
            (await cmd.ExecuteNonQueryAsync()).ShouldBe(1);
        }
        foreach (var client in clients)
        {
            var waited = Stopwatch.StartNew();
            while (await VersionAsync(client) != OlderPin)
            {
                waited.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(5), "the pin reaches every instance");
                await Task.Delay(25);
            }
            (await VersionAsync(client, header: ApiVersions.Default)).ShouldBe(ApiVersions.Default, "Aurous-Version overrides the pin");
        }

        var team = await (await clients[1].PatchAsync("/v1/team", JsonContent.Create(new { api_version = ApiVersions.Default }))).JsonAsync(200);
        team.GetProperty("api_version").GetString().ShouldBe(ApiVersions.Default);
        foreach (var client in clients)
        {
            (await VersionAsync(client)).ShouldBe(ApiVersions.Default, "the very next request after the change gets the new pin");
            client.Dispose();
        }
        (await new TeamStore(fixture.System.Database).GetSettingsAsync(teamId))!.ApiVersion.ShouldBe(ApiVersions.Default);
    }

    [Fact]
    public async Task The_settings_store_pins_only_released_versions_of_existing_teams_and_skips_no_op_writes()
    {
        var (teamId, _) = await fixture.TeamAsync();
        var teams = new TeamStore(fixture.System.Database);
        (await teams.SetApiVersionAsync(teamId, "2026-06-01")).ShouldBe(SetApiVersionOutcome.NotReleased);
        (await teams.SetApiVersionAsync(teamId, "")).ShouldBe(SetApiVersionOutcome.NotReleased);
        (await teams.SetApiVersionAsync("team_01JNOSUCHTEAM0000000000000", ApiVersions.Default)).ShouldBe(SetApiVersionOutcome.NotFound);
        (await teams.SetApiVersionAsync(teamId, ApiVersions.Default)).ShouldBe(SetApiVersionOutcome.Unchanged);

        await using (var cmd = fixture.System.Database.CreateCommand("UPDATE teams SET api_version = '2026-01-01' WHERE id = @t"))
        {
            cmd.Parameters.AddWithValue("t", teamId);
            await cmd.ExecuteNonQueryAsync();
        }
        (await teams.SetApiVersionAsync(teamId, ApiVersions.Default)).ShouldBe(SetApiVersionOutcome.Done);
        var settings = (await teams.GetSettingsAsync(teamId)).ShouldNotBeNull();
        settings.ApiVersion.ShouldBe(ApiVersions.Default);
        settings.RpmLimit.ShouldBeNull();
        (await teams.GetSettingsAsync("team_01JNOSUCHTEAM0000000000000")).ShouldBeNull();
    }

    private static async Task<string> VersionAsync(HttpClient client, string? header = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/models");
        if (header is not null)
        {
            request.Headers.Add("Aurous-Version", header);
        }
        using var response = await client.SendAsync(request);
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        return response.Headers.GetValues("Aurous-Version").Single();
    }
}
