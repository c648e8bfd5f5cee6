using System.Net;
using System.Text.RegularExpressions;

namespace Aurous.Dashboard.Tests.Billing;

/// <summary>An HTTP client for the dashboard that signs in through the real sign-in form (antiforgery token included).</summary>
public static partial class SignedInClient
{
    public static HttpClient Anonymous(DashboardSystem system) =>
        new(new SocketsHttpHandler { AllowAutoRedirect = false, CookieContainer = new CookieContainer() }) { BaseAddress = system.DashboardUrl };

    public static async Task<HttpClient> SignInAsync(DashboardSystem system, string email, string password)
    {
        var client = Anonymous(system);
        var form = await client.GetStringAsync("/account/sign-in");
        var token = AntiforgeryToken().Match(form);
        token.Success.ShouldBeTrue("the sign-in form carries an antiforgery token");
        using var response = await client.PostAsync("/account/sign-in", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "sign-in",
            ["__RequestVerificationToken"] = WebUtility.HtmlDecode(token.Groups[1].Value),
            ["Input.Email"] = email,
            ["Input.Password"] = password,
        }));
        response.StatusCode.ShouldBe(HttpStatusCode.Redirect, await response.Content.ReadAsStringAsync());
        return client;
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\"[^>]*value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryToken();
}
