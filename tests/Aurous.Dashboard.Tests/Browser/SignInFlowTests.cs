using Microsoft.Playwright;
using Npgsql;
using static Microsoft.Playwright.Assertions;

namespace Aurous.Dashboard.Tests.Browser;

/// <summary>Signing in and out as the newcomer does: with the credentials the AppHost wrote to dev.env.</summary>
[Collection(DashboardCollection.Name)]
public sealed class SignInFlowTests(DashboardSystem dashboard, ChromiumFixture chromium) : BrowserTest(dashboard, chromium), IClassFixture<ChromiumFixture>
{
    private static readonly string[] TeamLinks = ["Overview", "API keys", "Billing", "Usage", "Webhooks", "Jobs", "Members", "Settings"];

    [Fact]
    public Task The_development_user_signs_in_with_the_dev_env_credentials_and_lands_on_the_team_overview() => FlowAsync(async page =>
    {
        await page.GotoAsync("/account/sign-in");
        await VisitedAsync(page, "sign-in", docs: "sign-in");

        await Ui.SignInAsync(page, Dashboard.DevEmail, Dashboard.DevPassword);

        var teamId = await Ui.TeamOverviewAsync(page);
        var teamName = await TeamNameAsync(teamId);
        await Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync(teamName);
        await Expect(page.Locator("header")).ToContainTextAsync(Dashboard.DevEmail);
        await Expect(Ui.Button(page, "Sign out")).ToBeVisibleAsync();
        var nav = page.GetByRole(AriaRole.Navigation, new() { Name = "Team" });
        (await nav.GetByRole(AriaRole.Link).AllInnerTextsAsync()).Select(t => t.Trim()).ShouldBe(TeamLinks);
        await Expect(page.GetByTestId("balance-credits")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex(@"^\s*-?\d+(\.\d{1,6})?\s*$"));
        await VisitedAsync(page, "overview", docs: "overview");
    });

    [Fact]
    public Task A_wrong_password_is_refused_with_a_message_next_to_the_form() => FlowAsync(async page =>
    {
        await Ui.SignInAsync(page, Dashboard.DevEmail, Dashboard.DevPassword + "-wrong");

        await Expect(page.GetByRole(AriaRole.Alert)).ToContainTextAsync("Invalid email or password");
        new Uri(page.Url).AbsolutePath.ShouldBe("/account/sign-in");
        await VisitedAsync(page, "sign-in-refused");
    });

    [Fact]
    public Task Signing_out_returns_to_sign_in_and_team_pages_then_ask_to_sign_in_again() => FlowAsync(async page =>
    {
        await Ui.SignInAsync(page, Dashboard.DevEmail, Dashboard.DevPassword);
        var teamId = await Ui.TeamOverviewAsync(page);

        await Ui.Button(page, "Sign out").ClickAsync();

        await page.WaitForURLAsync(u => new Uri(u).AbsolutePath == "/account/sign-in");
        await page.GotoAsync($"/teams/{teamId}/keys");
        await page.WaitForURLAsync(u => new Uri(u).AbsolutePath == "/account/sign-in");
        await Expect(page.GetByLabel("Password", new() { Exact = true })).ToBeVisibleAsync();
    });

    [Fact]
    public Task Sign_in_works_by_keyboard_alone() => FlowAsync(async page =>
    {
        await page.GotoAsync("/account/sign-in");

        await Ui.TabToAsync(page, page.GetByLabel("Email", new() { Exact = true }));
        await page.Keyboard.TypeAsync(Dashboard.DevEmail);
        await Ui.TabToAsync(page, page.GetByLabel("Password", new() { Exact = true }), most: 3);
        await page.Keyboard.TypeAsync(Dashboard.DevPassword);
        await Ui.TabToAsync(page, Ui.Button(page, "Sign in"), most: 5);
        await page.Keyboard.PressAsync("Enter");

        await Ui.TeamOverviewAsync(page);
        await Expect(Ui.Button(page, "Sign out")).ToBeVisibleAsync();
    });

    private async Task<string> TeamNameAsync(string teamId)
    {
        await using var cmd = System.Database.CreateCommand("SELECT name FROM teams WHERE id = @id");
        cmd.Parameters.AddWithValue("id", teamId);
        return (string)(await cmd.ExecuteScalarAsync())!;
    }
}
