using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Aurous.Testing;

namespace Aurous.Jobs.Tests;

/// <summary>The operators' Hangfire dashboard is never anonymous: it needs the operator sign-in.</summary>
[Collection(JobsCollection.Name)]
public sealed partial class OperatorDashboardTests(JobsSystem fixture)
{
    private AurousTestApp System => fixture.System;

    private string OperatorPassword => JsonDocument.Parse(File.ReadAllText(Path.Combine(System.Settings.HomeDirectory, "state", "secrets.json")))
        .RootElement.GetProperty("operator-password").GetString()!;

    private HttpClient Browser(CookieContainer cookies) =>
        new(new HttpClientHandler { CookieContainer = cookies, AllowAutoRedirect = false }) { BaseAddress = System.Endpoint("dashboard") };

    [Fact]
    public async Task An_anonymous_visitor_is_sent_to_the_sign_in_and_gets_no_dashboard()
    {
        using var browser = Browser(new CookieContainer());
        foreach (var path in new[] { "/hangfire", "/hangfire/jobs/enqueued", "/hangfire/stats" })
        {
            using var response = await browser.GetAsync(path);
            response.StatusCode.ShouldBeOneOf(HttpStatusCode.Redirect, HttpStatusCode.Unauthorized);
            if (response.StatusCode == HttpStatusCode.Redirect)
            {
                response.Headers.Location!.ToString().ShouldContain("/operator/sign-in");
            }
            (await response.Content.ReadAsStringAsync()).ShouldNotContain("Hangfire");
        }
    }

    [Fact]
    public async Task A_wrong_password_is_refused_and_the_right_one_opens_the_dashboard()
    {
        var cookies = new CookieContainer();
        using var browser = Browser(cookies);

        using (var refused = await SignInAsync(browser, "not-the-operator-password"))
        {
            refused.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
            (await refused.Content.ReadAsStringAsync()).ShouldContain("Wrong password");
        }
        using (var stillOut = await browser.GetAsync("/hangfire"))
        {
            stillOut.StatusCode.ShouldBeOneOf(HttpStatusCode.Redirect, HttpStatusCode.Unauthorized);
        }

        using (var signedIn = await SignInAsync(browser, OperatorPassword))
        {
            signedIn.StatusCode.ShouldBe(HttpStatusCode.Redirect);
            signedIn.Headers.Location!.ToString().ShouldBe("/hangfire");
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
        using var browser = Browser(new CookieContainer());
        using var response = await browser.PostAsync("/operator/sign-in",
            new FormUrlEncodedContent(new Dictionary<string, string> { ["password"] = OperatorPassword }));
        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        using var dashboard = await browser.GetAsync("/hangfire");
        dashboard.StatusCode.ShouldNotBe(HttpStatusCode.OK);
    }

    private static async Task<HttpResponseMessage> SignInAsync(HttpClient browser, string password)
    {
        var page = await browser.GetStringAsync("/operator/sign-in?returnUrl=%2Fhangfire");
        var token = AntiforgeryField().Match(page);
        token.Success.ShouldBeTrue(page);
        return await browser.PostAsync("/operator/sign-in", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            [WebUtility.HtmlDecode(token.Groups["name"].Value)] = WebUtility.HtmlDecode(token.Groups["value"].Value),
            ["returnUrl"] = "/hangfire",
            ["password"] = password,
        }));
    }

    [GeneratedRegex("""<input type="hidden" name="(?<name>__RequestVerificationToken[^"]*)" value="(?<value>[^"]+)" />""")]
    private static partial Regex AntiforgeryField();
}
