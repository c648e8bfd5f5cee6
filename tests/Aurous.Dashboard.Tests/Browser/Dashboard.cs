using System.Text.RegularExpressions;
using Aurous.Accounts;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Aurous.Dashboard.Tests.Browser;

/// <summary>The dashboard's pages as a user works them, by role and accessible name (the dashboard's UI contract).</summary>
public static partial class Ui
{
    [GeneratedRegex(@"/teams/(?<id>[^/?#]+)/?$")]
    private static partial Regex TeamOverviewUrl();

    public static async Task SignInAsync(IPage page, string email, string password)
    {
        await page.GotoAsync("/account/sign-in");
        await page.GetByLabel("Email", new() { Exact = true }).FillAsync(email);
        await page.GetByLabel("Password", new() { Exact = true }).FillAsync(password);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in", Exact = true }).ClickAsync();
    }

    /// <summary>Signs up (a new user owning a new team with 0 credits) and returns the team id the overview is for.</summary>
    public static async Task<string> SignUpAsync(IPage page, string email, string password, string teamName)
    {
        await page.GotoAsync("/account/sign-up");
        await page.GetByLabel("Email", new() { Exact = true }).FillAsync(email);
        await page.GetByLabel("Password", new() { Exact = true }).FillAsync(password);
        await page.GetByLabel("Team name", new() { Exact = true }).FillAsync(teamName);
        await page.GetByRole(AriaRole.Button, new() { Name = "Create account", Exact = true }).ClickAsync();
        return await TeamOverviewAsync(page);
    }

    /// <summary>Waits for the team overview (/teams/{id}) and returns the id.</summary>
    public static async Task<string> TeamOverviewAsync(IPage page)
    {
        await page.WaitForURLAsync(TeamOverviewUrl());
        return TeamOverviewUrl().Match(new Uri(page.Url).AbsolutePath).Groups["id"].Value;
    }

    public static string NewEmail(string who) => $"{who}-{Guid.NewGuid():N}"[..(who.Length + 9)] + "@example.test";

    public const string NewPassword = "Correct-horse-battery-9";

    public static ILocator Button(IPage page, string name) => page.GetByRole(AriaRole.Button, new() { Name = name, Exact = true });

    public static ILocator KeyRows(IPage page) => page.Locator("table:has(caption:text-is('API keys')) tbody tr[data-key-id]");

    /// <summary>The key rows named <paramref name="name"/> (a rotated key and its replacement share the name; flows give keys unique names).</summary>
    public static ILocator KeyRows(IPage page, string name) =>
        KeyRows(page).Filter(new() { HasTextString = name });

    public static ILocator KeyRow(IPage page, string keyId) => page.Locator($"tr[data-key-id='{keyId}']");

    public static ILocator CreateKeyDialog(IPage page) => page.GetByRole(AriaRole.Dialog, new() { Name = "Create API key" });

    /// <summary>
    /// Opens the keys page and waits until it is interactive and has loaded (its Create key button is then enabled): the
    /// prerendered table is replaced while the interactive page loads the keys again, so rows counted earlier can be none.
    /// </summary>
    public static async Task OpenKeysAsync(IPage page, string teamId)
    {
        await page.GotoAsync($"/teams/{teamId}/keys");
        await Expect(Button(page, "Create key")).ToBeEnabledAsync();
    }

    /// <summary>Creates a key in the UI with <paramref name="scopes"/> (null: the default ones) and returns its id and secret.</summary>
    public static async Task<(string Id, string Secret)> CreateKeyAsync(IPage page, string teamId, string name, IReadOnlyCollection<string>? scopes = null)
    {
        await OpenKeysAsync(page, teamId);
        var before = await KeyIdsAsync(page);
        var dialog = CreateKeyDialog(page);
        await ClickUntilAsync(Button(page, "Create key"), dialog);
        await dialog.GetByLabel("Name", new() { Exact = true }).FillAsync(name);
        if (scopes is not null)
        {
            foreach (var scope in ApiKeyScopes.All)
            {
                await dialog.GetByLabel(ApiKeyScopes.Describe(scope), new() { Exact = true }).SetCheckedAsync(scopes.Contains(scope));
            }
        }
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Create", Exact = true }).ClickAsync();
        var secret = await NewSecretAsync(page);
        await Expect(KeyRows(page)).ToHaveCountAsync(before.Count + 1);
        var id = (await KeyIdsAsync(page)).Except(before).Single();
        return (id, secret);
    }

    /// <summary>
    /// The secret shown once after a create or a rotate, with its copy button and note; <paramref name="previous"/> is
    /// a secret shown before on the same page, which the new one replaces.
    /// </summary>
    public static async Task<string> NewSecretAsync(IPage page, string? previous = null)
    {
        var secret = page.GetByTestId("new-key-secret");
        await Expect(secret).ToBeVisibleAsync();
        if (previous is not null)
        {
            await Expect(secret).Not.ToHaveValueAsync(previous);
        }
        await Expect(page.GetByLabel("Your new key", new() { Exact = true })).ToBeVisibleAsync();
        await Expect(page.GetByText("Copy it now: it will not be shown again.")).ToBeVisibleAsync();
        await Expect(Button(page, "Copy")).ToBeVisibleAsync();
        return (await secret.InputValueAsync()).Trim();
    }

    public static async Task<IReadOnlyList<string>> KeyIdsAsync(IPage page) =>
        (await KeyRows(page).EvaluateAllAsync<string[]>("rows => rows.map(r => r.dataset.keyId)")).ToList();

    /// <summary>
    /// Clicks <paramref name="button"/> until <paramref name="appears"/> is visible: an interactive component ignores
    /// clicks until its circuit is connected.
    /// </summary>
    public static async Task ClickUntilAsync(ILocator button, ILocator appears, int attempts = 10)
    {
        for (var i = 0; i < attempts; i++)
        {
            await button.ClickAsync();
            try
            {
                await appears.WaitForAsync(new() { State = WaitForSelectorState.Visible, Timeout = 2_000 });
                return;
            }
            catch (TimeoutException) when (i < attempts - 1)
            {
            }
        }
    }

    /// <summary>Presses Tab until <paramref name="target"/> has the focus (keyboard-only use).</summary>
    public static async Task TabToAsync(IPage page, ILocator target, int most = 40)
    {
        for (var i = 0; i < most; i++)
        {
            if (await target.EvaluateAsync<bool>("e => e === document.activeElement"))
            {
                return;
            }
            await page.Keyboard.PressAsync("Tab");
        }
        throw new ShouldAssertException($"Tab never reached {target} in {most} presses");
    }
}
