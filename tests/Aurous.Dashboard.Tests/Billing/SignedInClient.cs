using Aurous.Dashboard.Tests.Accounts;

namespace Aurous.Dashboard.Tests.Billing;

/// <summary>HTTP clients for the dashboard, anonymous or signed in through the real forms (see <see cref="FormBrowser"/>).</summary>
public static class SignedInClient
{
    public static HttpClient Anonymous(DashboardSystem system) => new FormBrowser(system.DashboardUrl).Http;

    public static async Task<HttpClient> SignInAsync(DashboardSystem system, string email, string password)
    {
        var browser = new FormBrowser(system.DashboardUrl);
        await browser.SignInOrFailAsync(email, password);
        return browser.Http;
    }

    /// <summary>Signs up a new user with a new team of their own (0 credits); returns the signed-in client and the team id.</summary>
    public static async Task<(HttpClient Client, string TeamId)> SignUpAsync(DashboardSystem system)
    {
        var browser = new FormBrowser(system.DashboardUrl);
        var teamId = await browser.SignUpAsync(FormBrowser.NewEmail("billing"), FormBrowser.Password, "Billing test team");
        teamId.ShouldStartWith("team_");
        return (browser.Http, teamId);
    }
}
