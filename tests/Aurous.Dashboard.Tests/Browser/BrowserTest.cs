using System.Runtime.CompilerServices;
using Microsoft.Playwright;

namespace Aurous.Dashboard.Tests.Browser;

/// <summary>
/// A dashboard flow in real Chromium: each test runs in fresh browser contexts (one per user) with tracing on. Every
/// page the flow visits is checked (<see cref="PageChecks"/>) and photographed; when the flow fails, the last screen of
/// every context and its trace are kept under artifacts/test-results/dashboard/failures/.
/// </summary>
public abstract class BrowserTest(DashboardSystem dashboard, ChromiumFixture chromium)
{
    private readonly List<IBrowserContext> _contexts = [];
    private string _test = "test";
    private int _screen;

    protected DashboardSystem Dashboard => dashboard;

    protected Aurous.Testing.AurousTestApp System => dashboard.System;

    /// <summary>Runs <paramref name="flow"/> with the first user's page; on failure keeps screenshots and traces.</summary>
    protected async Task FlowAsync(Func<IPage, Task> flow, [CallerMemberName] string test = "")
    {
        _test = Artifacts.Safe(GetType().Name + "-" + test);
        try
        {
            var page = await NewUserAsync();
            await flow(page);
            foreach (var context in _contexts)
            {
                await context.Tracing.StopAsync();
            }
        }
        catch
        {
            await KeepFailureAsync();
            throw;
        }
        finally
        {
            foreach (var context in _contexts)
            {
                await context.CloseAsync();
            }
            _contexts.Clear();
        }
    }

    /// <summary>A page in a browser context of its own: another user, with no cookies shared.</summary>
    protected async Task<IPage> NewUserAsync()
    {
        var context = await chromium.Browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = dashboard.DashboardUrl.ToString(),
            ViewportSize = new ViewportSize { Width = 1200, Height = 800 },
            Locale = "en-GB",
            TimezoneId = "UTC",
        });
        context.SetDefaultTimeout(30_000);
        await context.Tracing.StartAsync(new TracingStartOptions { Screenshots = true, Snapshots = true, Title = _test });
        _contexts.Add(context);
        return await context.NewPageAsync();
    }

    /// <summary>
    /// Checks the page the flow has reached and saves its screenshot; <paramref name="docs"/> names it among the
    /// documentation's images (copied to docs/images/dashboard/ with AUROUS_DOCS_SCREENSHOTS=1).
    /// </summary>
    protected async Task VisitedAsync(IPage page, string name, string? docs = null)
    {
        await page.WaitForLoadStateAsync(LoadState.DOMContentLoaded);
        await PageChecks.AssertAsync(page);
        var file = Path.Combine(Artifacts.Screens(dashboard), $"{_test}-{++_screen:00}-{Artifacts.Safe(name)}.png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = file, FullPage = true });
        if (docs is not null && Artifacts.UpdateDocs)
        {
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Artifacts.DocsImages(dashboard), docs + ".png") });
        }
    }

    private async Task KeepFailureAsync()
    {
        var folder = Artifacts.Failures(dashboard);
        for (var i = 0; i < _contexts.Count; i++)
        {
            var context = _contexts[i];
            try
            {
                foreach (var page in context.Pages)
                {
                    await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(folder, $"{_test}-user{i + 1}.png"), FullPage = true });
                }
                await context.Tracing.StopAsync(new TracingStopOptions { Path = Path.Combine(folder, $"{_test}-user{i + 1}-trace.zip") });
            }
            catch (PlaywrightException)
            {
                // The browser may be what failed: what could be kept is kept.
            }
        }
    }
}
