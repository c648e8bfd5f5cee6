using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Aurous.Dashboard.Tests.Browser;

/// <summary>
/// The pages no flow needs to work through, visited as the development user (an owner and an operator) and
/// anonymously, so that every page of the dashboard passes the page checks and has its screenshot.
/// </summary>
[Collection(DashboardCollection.Name)]
public sealed class PageTourTests(DashboardSystem dashboard, ChromiumFixture chromium) : BrowserTest(dashboard, chromium), IClassFixture<ChromiumFixture>
{
    [Fact]
    public Task Every_page_has_one_h1_and_a_name_for_every_control() => FlowAsync(async page =>
    {
        await page.GotoAsync("/account/sign-up");
        await Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToBeVisibleAsync();
        await VisitedAsync(page, "sign-up");

        await Ui.SignInAsync(page, Dashboard.DevEmail, Dashboard.DevPassword);
        var teamId = await Ui.TeamOverviewAsync(page);
        foreach (var (path, heading, docs) in new (string, string, string?)[]
        {
            ($"/teams/{teamId}/keys", "API keys", null),
            ($"/teams/{teamId}/webhooks", "Webhooks", "webhooks"),
            ($"/teams/{teamId}/jobs", "Jobs", "jobs"),
            ($"/teams/{teamId}/settings", "Settings", "settings"),
            ($"/teams/{teamId}/members", "Members", null),
            ($"/teams/{teamId}/billing", "Billing", null),
            ($"/teams/{teamId}/usage", "Usage", null),
            ("/operators", "Operators", "operators"),
        })
        {
            var response = await page.GotoAsync(path);
            response!.Status.ShouldBe(200, path);
            await Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync(heading);
            await VisitedAsync(page, heading, docs);
        }

        // The dialogs are checked open too.
        await page.GotoAsync($"/teams/{teamId}/keys");
        await Ui.ClickUntilAsync(Ui.Button(page, "Create key"), Ui.CreateKeyDialog(page));
        await VisitedAsync(page, "create-key-open");
    });
}
