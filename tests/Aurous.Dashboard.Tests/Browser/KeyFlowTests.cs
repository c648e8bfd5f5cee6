using Aurous.Accounts;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Aurous.Dashboard.Tests.Browser;

/// <summary>API keys made and revoked in the dashboard, used through the official OpenAI SDK.</summary>
[Collection(DashboardCollection.Name)]
public sealed class KeyFlowTests(DashboardSystem dashboard, ChromiumFixture chromium) : BrowserTest(dashboard, chromium), IClassFixture<ChromiumFixture>
{
    [Fact]
    public Task A_key_created_in_the_dashboard_calls_the_API_with_the_scopes_chosen() => FlowAsync(async page =>
    {
        var teamId = await SignInAsync(page);
        var name = "sdk " + Guid.NewGuid().ToString("N")[..6];

        var (keyId, secret) = await Ui.CreateKeyAsync(page, teamId, name, [ApiKeyScopes.Embeddings, ApiKeyScopes.ManagementRead]);
        await VisitedAsync(page, "key-created", docs: "key-created");

        (await Api.EmbedAsync(System, secret)).Status.ShouldBe(200);
        var row = Ui.KeyRow(page, keyId);
        await Expect(row).ToContainTextAsync(name);
        await Expect(row).ToContainTextAsync("Active");
        await Expect(row).ToContainTextAsync(ApiKeyScopes.Embeddings, new() { IgnoreCase = true });
        await Expect(row).Not.ToContainTextAsync(secret);
        await Expect(row).ToContainTextAsync(secret[^4..]);
        // The dialog passed on only what was ticked: this key may not chat.
        var stored = (await new ApiKeyStore(System.Database).GetAsync(teamId, keyId))!;
        stored.Scopes.ShouldBe([ApiKeyScopes.Embeddings, ApiKeyScopes.ManagementRead]);
        // Shown once: a fresh visit of the page shows the hint only.
        await page.ReloadAsync();
        await Expect(page.GetByTestId("new-key-secret")).ToHaveCountAsync(0);
        (await page.ContentAsync()).ShouldNotContain(secret);
        await VisitedAsync(page, "keys", docs: "keys");
    });

    [Fact]
    public Task A_key_without_a_name_is_refused_next_to_the_form() => FlowAsync(async page =>
    {
        var teamId = await SignInAsync(page);
        await Ui.OpenKeysAsync(page, teamId);
        var before = await Ui.KeyIdsAsync(page);
        var dialog = Ui.CreateKeyDialog(page);
        await Ui.ClickUntilAsync(Ui.Button(page, "Create key"), dialog);
        await VisitedAsync(page, "create-key-dialog", docs: "create-key");

        await dialog.GetByRole(AriaRole.Button, new() { Name = "Create", Exact = true }).ClickAsync();

        await Expect(page.GetByRole(AriaRole.Alert)).ToContainTextAsync("Give the key a name");
        await Expect(page.GetByTestId("new-key-secret")).ToHaveCountAsync(0);
        (await Ui.KeyIdsAsync(page)).ShouldBe(before);
    });

    [Fact]
    public Task A_key_revoked_in_the_dashboard_is_refused_on_its_very_next_request() => FlowAsync(async page =>
    {
        var teamId = await SignInAsync(page);
        var name = "revoke " + Guid.NewGuid().ToString("N")[..6];
        var (keyId, secret) = await Ui.CreateKeyAsync(page, teamId, name);
        (await Api.EmbedAsync(System, secret)).Status.ShouldBe(200);
        var row = Ui.KeyRow(page, keyId);

        // Cancel leaves it as it was.
        var confirm = Ui.Button(page, "Revoke key");
        await Ui.ClickUntilAsync(page.GetByRole(AriaRole.Button, new() { Name = $"Revoke {name}", Exact = true }), confirm);
        await VisitedAsync(page, "revoke-confirm");
        await Ui.Button(page, "Cancel").ClickAsync();
        await Expect(confirm).ToBeHiddenAsync();
        await Expect(row).ToContainTextAsync("Active");
        (await Api.EmbedAsync(System, secret)).Status.ShouldBe(200);

        await Ui.ClickUntilAsync(page.GetByRole(AriaRole.Button, new() { Name = $"Revoke {name}", Exact = true }), confirm);
        await confirm.ClickAsync();

        await Expect(row).ToContainTextAsync("Revoked");
        (await Api.EmbedAsync(System, secret)).Status.ShouldBe(401);
        await Expect(row.GetByRole(AriaRole.Button, new() { Name = $"Revoke {name}", Exact = true })).ToHaveCountAsync(0);
    });

    [Fact]
    public Task Creating_a_key_works_by_keyboard_alone() => FlowAsync(async page =>
    {
        var teamId = await SignInAsync(page);
        await page.GotoAsync($"/teams/{teamId}/keys");
        var name = "keyboard " + Guid.NewGuid().ToString("N")[..6];
        var dialog = Ui.CreateKeyDialog(page);

        await Ui.TabToAsync(page, Ui.Button(page, "Create key"));
        for (var i = 0; i < 10 && !await dialog.IsVisibleAsync(); i++)
        {
            await page.Keyboard.PressAsync("Enter");
            await page.WaitForTimeoutAsync(500);
        }
        await Expect(dialog).ToBeVisibleAsync();
        // Focus moves into the dialog.
        (await dialog.EvaluateAsync<bool>("d => d.contains(document.activeElement)")).ShouldBeTrue("focus is in the dialog");
        await Ui.TabToAsync(page, dialog.GetByLabel("Name", new() { Exact = true }), most: 10);
        await page.Keyboard.TypeAsync(name);
        var write = dialog.GetByLabel(ApiKeyScopes.Describe(ApiKeyScopes.ManagementWrite), new() { Exact = true });
        await Ui.TabToAsync(page, write, most: 10);
        await page.Keyboard.PressAsync("Space");
        await Expect(write).ToBeCheckedAsync();
        await Ui.TabToAsync(page, dialog.GetByRole(AriaRole.Button, new() { Name = "Create", Exact = true }), most: 10);
        await page.Keyboard.PressAsync("Enter");

        var secret = await Ui.NewSecretAsync(page);
        (await Api.EmbedAsync(System, secret)).Status.ShouldBe(200);
        var row = Ui.KeyRows(page, name);
        await Expect(row).ToHaveCountAsync(1);
        var keyId = await row.GetAttributeAsync("data-key-id");
        (await new ApiKeyStore(System.Database).GetAsync(teamId, keyId!))!.Scopes.ShouldContain(ApiKeyScopes.ManagementWrite);
    });

    private async Task<string> SignInAsync(IPage page)
    {
        await Ui.SignInAsync(page, Dashboard.DevEmail, Dashboard.DevPassword);
        return await Ui.TeamOverviewAsync(page);
    }
}
