using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Aurous.Dashboard.Tests.Browser;

/// <summary>
/// A second user joins the team through an invitation link made in the dashboard. As a member they read but manage
/// nothing; a manage action from a page rendered while they were still an admin is refused on the server.
/// </summary>
[Collection(DashboardCollection.Name)]
public sealed class MemberFlowTests(DashboardSystem dashboard, ChromiumFixture chromium) : BrowserTest(dashboard, chromium), IClassFixture<ChromiumFixture>
{
    [Fact]
    public Task A_member_sees_no_manage_buttons_and_a_revoke_sent_after_losing_admin_is_refused() => FlowAsync(async owner =>
    {
        await Ui.SignInAsync(owner, Dashboard.DevEmail, Dashboard.DevPassword);
        var teamId = await Ui.TeamOverviewAsync(owner);
        var keyName = "shared " + Guid.NewGuid().ToString("N")[..6];
        var (keyId, secret) = await Ui.CreateKeyAsync(owner, teamId, keyName);

        // The owner makes an invitation link for an admin.
        await owner.GotoAsync($"/teams/{teamId}/members");
        await owner.GetByLabel("Role", new() { Exact = true }).SelectOptionAsync("admin");
        await Ui.Button(owner, "Create invitation link").ClickAsync();
        var link = await owner.GetByTestId("invitation-link").InputValueAsync();
        link.ShouldContain("/invitations/");
        await VisitedAsync(owner, "members", docs: "members");

        // A new user signs up in another browser and accepts it.
        var second = await NewUserAsync();
        var email = Ui.NewEmail("member");
        await Ui.SignUpAsync(second, email, Ui.NewPassword, "Own team " + Guid.NewGuid().ToString("N")[..6]);
        await second.GotoAsync(link);
        await Expect(second.Locator("main")).ToContainTextAsync(await TeamNameAsync(teamId));
        await VisitedAsync(second, "invitation");
        await Ui.Button(second, "Accept invitation").ClickAsync();
        await second.WaitForURLAsync(u => new Uri(u).AbsolutePath.StartsWith($"/teams/{teamId}", StringComparison.Ordinal));

        // As an admin they see the manage buttons; the page stays open.
        await second.GotoAsync($"/teams/{teamId}/keys");
        var revoke = second.GetByRole(AriaRole.Button, new() { Name = $"Revoke {keyName}", Exact = true });
        await Expect(revoke).ToBeEnabledAsync();

        // The owner makes them a member.
        await owner.GotoAsync($"/teams/{teamId}/members");
        await owner.GetByLabel($"Role for {email}", new() { Exact = true }).SelectOptionAsync("member");
        await Ui.Button(owner, $"Change role of {email}").ClickAsync();
        await Expect(owner.Locator("table:has(caption:text-is('Members')) tr", new() { HasTextString = email })).ToContainTextAsync("member");

        // The revoke they send from the stale page is refused, and the key keeps working.
        await Ui.ClickUntilAsync(revoke, Ui.Button(second, "Revoke key"));
        await Ui.Button(second, "Revoke key").ClickAsync();
        await Expect(second.GetByRole(AriaRole.Alert)).ToContainTextAsync("Only owners and admins");
        (await Api.EmbedAsync(System, secret)).Status.ShouldBe(200);
        await owner.GotoAsync($"/teams/{teamId}/keys");
        await Expect(Ui.KeyRow(owner, keyId)).ToContainTextAsync("Active");

        // Fresh pages show a member no manage controls at all.
        await second.GotoAsync($"/teams/{teamId}/keys");
        await Expect(Ui.KeyRow(second, keyId)).ToContainTextAsync("Active");
        await Expect(second.GetByRole(AriaRole.Button, new() { Name = "Create key" })).ToHaveCountAsync(0);
        await Expect(second.GetByRole(AriaRole.Button, new() { Name = "Revoke " })).ToHaveCountAsync(0);
        await Expect(second.GetByRole(AriaRole.Button, new() { Name = "Rotate " })).ToHaveCountAsync(0);
        await VisitedAsync(second, "keys-as-member");
        await second.GotoAsync($"/teams/{teamId}/members");
        await Expect(second.GetByRole(AriaRole.Button, new() { Name = "Create invitation link" })).ToHaveCountAsync(0);
        await Expect(second.GetByRole(AriaRole.Button, new() { Name = "Change role" })).ToHaveCountAsync(0);
        await VisitedAsync(second, "members-as-member");
        await second.GotoAsync($"/teams/{teamId}/webhooks");
        await Expect(second.GetByRole(AriaRole.Button, new() { Name = "Add endpoint" })).ToHaveCountAsync(0);
        await VisitedAsync(second, "webhooks-as-member");

        // The link was for one use.
        var third = await NewUserAsync();
        await Ui.SignUpAsync(third, Ui.NewEmail("late"), Ui.NewPassword, "Late team " + Guid.NewGuid().ToString("N")[..6]);
        await third.GotoAsync(link);
        await Expect(third.GetByText("This invitation is no longer valid")).ToBeVisibleAsync();
    });

    private async Task<string> TeamNameAsync(string teamId)
    {
        await using var cmd = System.Database.CreateCommand("SELECT name FROM teams WHERE id = @id");
        cmd.Parameters.AddWithValue("id", teamId);
        return (string)(await cmd.ExecuteScalarAsync())!;
    }
}
