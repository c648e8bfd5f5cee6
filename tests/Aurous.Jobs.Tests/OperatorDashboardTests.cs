using System.Net;
using System.Text.RegularExpressions;
using Aurous.Testing;

namespace Aurous.Jobs.Tests;

/// <summary>
/// The operators' Hangfire dashboard is never anonymous: it needs a dashboard account with the platform role
/// "operator" (the development user is one; dev.env has its sign-in).
/// </summary>
[Collection(JobsCollection.Name)]
public sealed partial class OperatorDashboardTests(JobsSystem fixture)
{
    private AurousTestApp System => fixture.System;

    private Dictionary<string, string> DevEnv() => File.ReadAllLines(System.Settings.DevEnvPath)
        .Where(l => l.Contains('=', StringComparison.Ordinal)).Select(l => l.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);

    private HttpClient Browser(CookieContainer cookies) =>
        new(new HttpClientHandler { CookieContainer = cookies, AllowAutoRedirect = false }) { BaseAddress = System.Endpoint("dashboard") };

    [Fact]
    public async Task An_anonymous_visitor_is_sent_to_the_sign_in_and_gets_no_dashboard()
    {
        using var browser = Browser(new CookieContainer());
        foreach (var path in new[] { "/hangfire", "/hangfire/jobs/enqueued", "/hangfire/stats" })
        {
            using var response = await browser.GetAsync(path);
            response.StatusCode.ShouldBe(HttpStatusCode.Redirect);
            response.Headers.Location!.ToString().ShouldContain("/account/sign-in?returnUrl=");
            (await response.Content.ReadAsStringAsync()).ShouldNotContain("Hangfire");
        }
    }

    [Fact]
    public async Task A_wrong_password_is_refused_and_the_operators_account_opens_the_dashboard()
    {
        var env = DevEnv();
        var cookies = new CookieContainer();
        using var browser = Browser(cookies);

        using (var refused = await SignInAsync(browser, env["AUROUS_DASHBOARD_EMAIL"], "not-the-operator-password"))
        {
            refused.StatusCode.ShouldBe(HttpStatusCode.OK);
            (await refused.Content.ReadAsStringAsync()).ShouldContain("Invalid email or password");
        }
        using (var stillOut = await browser.GetAsync("/hangfire"))
        {
            stillOut.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        }

        using (var signedIn = await SignInAsync(browser, env["AUROUS_DASHBOARD_EMAIL"], env["AUROUS_DASHBOARD_PASSWORD"]))
        {
            signedIn.StatusCode.ShouldBe(HttpStatusCode.Redirect);
            signedIn.Headers.Location!.AbsolutePath().ShouldBe("/hangfire");
        }
        using var dashboard = await browser.GetAsync("/hangfire");
        dashboard.StatusCode.ShouldBe(HttpStatusCode.OK);
        var html = await dashboard.Content.ReadAsStringAsync();
        html.ShouldContain("Aurous jobs");
        using var servers = await browser.GetAsync("/hangfire/servers");
        servers.StatusCode.ShouldBe(HttpStatusCode.OK);
        // The worker's two servers (generation; webhooks and upkeep) are listed.
        (await servers.Content.ReadAsStringAsync()).ShouldContain(":generation");
    }

    [Fact]
    public async Task A_sign_in_without_the_form_token_is_refused()
    {
        var env = DevEnv();
        using var browser = Browser(new CookieContainer());
        using var response = await browser.PostAsync("/account/sign-in", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "sign-in", ["Input.Email"] = env["AUROUS_DASHBOARD_EMAIL"], ["Input.Password"] = env["AUROUS_DASHBOARD_PASSWORD"],
        }));
        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        using var dashboard = await browser.GetAsync("/hangfire");
        dashboard.StatusCode.ShouldNotBe(HttpStatusCode.OK);
    }

    private static async Task<HttpResponseMessage> SignInAsync(HttpClient browser, string email, string password)
    {
        const string page = "/account/sign-in?returnUrl=%2Fhangfire";
        var html = await browser.GetStringAsync(page);
        var fields = HiddenField().Matches(html).ToDictionary(m => WebUtility.HtmlDecode(m.Groups["name"].Value), m => WebUtility.HtmlDecode(m.Groups["value"].Value));
        fields.ShouldContainKey("__RequestVerificationToken", html);
        fields["Input.Email"] = email;
        fields["Input.Password"] = password;
        return await browser.PostAsync(page, new FormUrlEncodedContent(fields));
    }

    [GeneratedRegex("""<input type="hidden" name="(?<name>[^"]+)" value="(?<value>[^"]*)" />""")]
    private static partial Regex HiddenField();
}

internal static class LocationExtensions
{
    public static string AbsolutePath(this Uri location) => location.IsAbsoluteUri ? location.AbsolutePath : location.OriginalString.Split('?')[0];
}
