using Microsoft.Playwright;

namespace Aurous.Dashboard.Tests.Browser;

/// <summary>
/// One headless Debian Chromium per test class, driven by Playwright. Each test opens its own browser context (cookies,
/// storage and trace of its own) from it.
/// </summary>
public sealed class ChromiumFixture : IAsyncLifetime
{
    /// <summary>The distribution's browser: Playwright's own browser downloads are never used.</summary>
    public const string ExecutablePath = "/usr/bin/chromium";

    private IPlaywright? _playwright;

    public IBrowser Browser { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ExecutablePath,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu"],
        });
        // Interactive components answer over a circuit that can take a moment on a busy machine.
        Assertions.SetDefaultExpectTimeout(20_000);
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.CloseAsync();
        }
        _playwright?.Dispose();
    }
}
