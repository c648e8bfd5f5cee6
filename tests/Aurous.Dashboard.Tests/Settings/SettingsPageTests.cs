using System.Net;
using System.Text.RegularExpressions;
using Aurous.Accounts;

namespace Aurous.Dashboard.Tests.Settings;

/// <summary>The Settings page over plain HTTP (static rendering): the pin and the limits shown, saving, and refusals.</summary>
[Collection(DashboardCollection.Name)]
public sealed partial class SettingsPageTests(DashboardSystem fixture)
{
    [Fact]
    public async Task An_owner_sees_the_pin_and_the_platform_limits_saves_a_released_version_and_is_refused_an_unreleased_one()
    {
        using var client = await SignedInClientAsync();
        var teamId = await FirstTeamIdAsync(client);

        var page = Plain(await client.GetStringAsync($"/teams/{teamId}/settings"));
        page.ShouldContain("<h1>Settings</h1>");
        page.ShouldContain("<label for=\"api-version\">Pinned API version</label>");
        SelectedOption().Match(page).Groups[1].Value.ShouldBe(ApiVersions.Default);
        page.ShouldContain($"platform default ({PlatformRateLimits.RequestsPerMinute})");
        page.ShouldContain($"platform default ({PlatformRateLimits.TokensPerMinute})");

        var saved = await PostAsync(client, $"/teams/{teamId}/settings", page, ("_handler", "team-settings"), ("api_version", ApiVersions.Default));
        saved.ShouldContain("role=\"status\"");
        saved.ShouldContain($"Requests without Aurous-Version now use {ApiVersions.Default}");

        var refused = await PostAsync(client, $"/teams/{teamId}/settings", page, ("_handler", "team-settings"), ("api_version", "2026-06-01"));
        refused.ShouldContain("role=\"alert\"");
        (await new TeamStore(fixture.System.Database).GetSettingsAsync(teamId))!.ApiVersion.ShouldBe(ApiVersions.Default);

        await fixture.System.SetLimitsAsync(teamId, rpm: 1234, tpm: null);
        var own = Plain(await client.GetStringAsync($"/teams/{teamId}/settings"));
        own.ShouldContain("<dd data-testid=\"rate-limit-rpm\">1234</dd>");
        await fixture.System.SetLimitsAsync(teamId, rpm: null, tpm: null);
    }

    [Fact]
    public async Task Another_teams_settings_are_not_found()
    {
        using var client = await SignedInClientAsync();
        var other = await new TeamStore(fixture.System.Database).CreateAsync("Settings stranger " + Guid.NewGuid().ToString("N")[..6]);
        using var response = await client.GetAsync($"/teams/{other}/settings");
        response.StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await response.Content.ReadAsStringAsync()).ShouldNotContain("Pinned API version");
    }

    private async Task<HttpClient> SignedInClientAsync()
    {
        var client = new HttpClient(new HttpClientHandler { CookieContainer = new CookieContainer() }) { BaseAddress = fixture.DashboardUrl };
        var form = await client.GetStringAsync("/account/sign-in");
        var home = await PostAsync(client, "/account/sign-in", form,
            ("_handler", "sign-in"), ("Input.Email", fixture.DevEmail), ("Input.Password", fixture.DevPassword));
        home.ShouldNotContain("Invalid email or password");
        return client;
    }

    private static async Task<string> FirstTeamIdAsync(HttpClient client)
    {
        using var response = await client.GetAsync("/");
        var path = response.RequestMessage!.RequestUri!.AbsolutePath;
        var match = TeamPath().Match(path);
        match.Success.ShouldBeTrue($"the signed-in user lands on a team page, not {path}");
        return match.Groups[1].Value;
    }

    private static async Task<string> PostAsync(HttpClient client, string path, string pageWithForm, params (string Name, string Value)[] fields)
    {
        var token = AntiforgeryField().Match(pageWithForm);
        token.Success.ShouldBeTrue("the form carries an antiforgery token");
        var values = fields.Select(f => new KeyValuePair<string, string>(f.Name, f.Value))
            .Append(new("__RequestVerificationToken", WebUtility.HtmlDecode(token.Groups[1].Value)));
        using var response = await client.PostAsync(path, new FormUrlEncodedContent(values));
        var body = await response.Content.ReadAsStringAsync();
        response.IsSuccessStatusCode.ShouldBeTrue(body.Length > 400 ? body[..400] : body);
        return Plain(body);
    }

    /// <summary>The page without the scoped-CSS attributes (b-xxxxxxxxxx) the renderer adds to this component's elements.</summary>
    private static string Plain(string html) => ScopeAttribute().Replace(html, "");

    [GeneratedRegex(@" b-[a-z0-9]{10}")]
    private static partial Regex ScopeAttribute();

    [GeneratedRegex("<option value=\"([^\"]+)\" selected")]
    private static partial Regex SelectedOption();

    [GeneratedRegex("^/teams/([^/]+)$")]
    private static partial Regex TeamPath();

    [GeneratedRegex("name=\"__RequestVerificationToken\" value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryField();
}
