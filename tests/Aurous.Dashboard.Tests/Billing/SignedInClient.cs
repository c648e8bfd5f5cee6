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
        await PostFormAsync(client, "/account/sign-in", "sign-in", new() { ["Input.Email"] = email, ["Input.Password"] = password });
        return client;
    }

    /// <summary>Signs up a new user with a new team of their own (0 credits); returns the signed-in client and the team id.</summary>
    public static async Task<(HttpClient Client, string TeamId)> SignUpAsync(DashboardSystem system)
    {
        var client = Anonymous(system);
        var location = await PostFormAsync(client, "/account/sign-up", "sign-up", new()
        {
            ["Input.Email"] = $"billing-{Guid.NewGuid():N}@example.test",
            ["Input.Password"] = "correct horse battery staple",
            ["Input.TeamName"] = "Billing test team",
        });
        var teamId = location.Split('/', StringSplitOptions.RemoveEmptyEntries)[^1];
        teamId.ShouldStartWith("team_");
        return (client, teamId);
    }

    private static async Task<string> PostFormAsync(HttpClient client, string path, string handler, Dictionary<string, string> fields)
    {
        var form = await client.GetStringAsync(path);
        var token = AntiforgeryToken().Match(form);
        token.Success.ShouldBeTrue("the form carries an antiforgery token");
        fields["_handler"] = handler;
        fields["__RequestVerificationToken"] = WebUtility.HtmlDecode(token.Groups[1].Value);
        using var response = await client.PostAsync(path, new FormUrlEncodedContent(fields));
        response.StatusCode.ShouldBe(HttpStatusCode.Redirect, await response.Content.ReadAsStringAsync());
        return response.Headers.Location!.ToString();
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\"[^>]*value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryToken();
}
