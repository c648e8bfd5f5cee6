using System.Globalization;
using System.Text.RegularExpressions;
using Aurous.Accounts;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Aurous.Dashboard.Tests.Browser;

/// <summary>
/// Rotating a key in the dashboard: the old key keeps working for the 24 h grace, then fails. This is the one flow that
/// moves the clock (of the API and the dashboard, forward only); no other flow depends on what time it is.
/// </summary>
[Collection(DashboardCollection.Name)]
public sealed partial class RotationFlowTests(DashboardSystem dashboard, ChromiumFixture chromium) : BrowserTest(dashboard, chromium), IClassFixture<ChromiumFixture>
{
    [GeneratedRegex(@"\b2[34] h [0-5]?\d m left")]
    private static partial Regex FreshCountdown();

    [Fact]
    public Task A_rotated_key_works_through_its_grace_and_is_refused_after_it_while_its_replacement_works() => FlowAsync(async page =>
    {
        await Ui.SignInAsync(page, Dashboard.DevEmail, Dashboard.DevPassword);
        var teamId = await Ui.TeamOverviewAsync(page);
        var name = "rotate " + Guid.NewGuid().ToString("N")[..6];
        var (oldId, oldSecret) = await Ui.CreateKeyAsync(page, teamId, name);
        (await Api.EmbedAsync(System, oldSecret)).Status.ShouldBe(200);

        var confirm = Ui.Button(page, "Rotate key");
        await Ui.ClickUntilAsync(page.GetByRole(AriaRole.Button, new() { Name = $"Rotate {name}", Exact = true }), confirm);
        await VisitedAsync(page, "rotate-confirm");
        await confirm.ClickAsync();

        var newSecret = await Ui.NewSecretAsync(page, previous: oldSecret);
        newSecret.ShouldNotBe(oldSecret);
        var oldRow = Ui.KeyRow(page, oldId);
        await Expect(oldRow).ToContainTextAsync("Rotated");
        await Expect(oldRow).ToContainTextAsync("works until");
        await Expect(oldRow.GetByTestId("grace-countdown")).ToHaveTextAsync(FreshCountdown());
        var graceUntil = (await new ApiKeyStore(System.Database).GetAsync(teamId, oldId))!.GraceUntil!.Value;
        var shown = graceUntil.UtcDateTime.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture);
        await Expect(oldRow.Locator("time", new() { HasTextString = shown })).ToHaveCountAsync(1);
        await Expect(Ui.KeyRows(page, name)).ToHaveCountAsync(2);
        var newRow = page.Locator($"tr[data-key-id]:not([data-key-id='{oldId}'])").Filter(new() { HasTextString = name });
        await Expect(newRow).ToContainTextAsync("Active");
        await VisitedAsync(page, "key-rotated", docs: "key-rotated");

        // Within the grace both keys work.
        (await Api.EmbedAsync(System, oldSecret)).Status.ShouldBe(200);
        (await Api.EmbedAsync(System, newSecret)).Status.ShouldBe(200);

        await System.AdvanceClockAsync(ApiKeyStore.RotationGrace + TimeSpan.FromMinutes(1), "api", "dashboard");

        (await Api.EmbedAsync(System, oldSecret)).Status.ShouldBe(401);
        (await Api.EmbedAsync(System, newSecret)).Status.ShouldBe(200);
        // A day later the dashboard session has lapsed as well: sign in again.
        await Ui.SignInAsync(page, Dashboard.DevEmail, Dashboard.DevPassword);
        await Ui.TeamOverviewAsync(page);
        await page.GotoAsync($"/teams/{teamId}/keys");
        await Expect(Ui.KeyRow(page, oldId)).ToContainTextAsync("Expired");
        await Expect(Ui.KeyRow(page, oldId).GetByTestId("grace-countdown")).ToHaveCountAsync(0);
        await Expect(newRow).ToContainTextAsync("Active");
        await VisitedAsync(page, "key-expired");
    });
}
