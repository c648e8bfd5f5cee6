using Microsoft.Playwright;

namespace Aurous.Dashboard.Tests.Browser;

/// <summary>
/// What every dashboard page must satisfy, checked in the page itself: exactly one h1, an accessible name for every
/// input, select, textarea and button (aria-label, aria-labelledby, a label, a button's text or a title), and no
/// error page or Blazor error bar.
/// </summary>
public static class PageChecks
{
    // The accessible name as the accessible-name computation derives it for form controls, in the order it tries.
    private const string UnnamedControlsScript = """
        () => {
          const text = e => (e?.textContent ?? '').replace(/\s+/g, ' ').trim();
          const nameOf = e => {
            const aria = (e.getAttribute('aria-label') ?? '').trim();
            if (aria) return aria;
            const by = e.getAttribute('aria-labelledby');
            if (by) {
              const t = by.split(/\s+/).map(id => text(document.getElementById(id))).join(' ').trim();
              if (t) return t;
            }
            if (e.labels && e.labels.length) {
              const t = [...e.labels].map(text).join(' ').trim();
              if (t) return t;
            }
            if (e.tagName === 'BUTTON') {
              const t = text(e) || [...e.querySelectorAll('img[alt]')].map(i => i.alt).join(' ').trim();
              if (t) return t;
            }
            if (e.tagName === 'INPUT' && ['submit', 'button', 'reset'].includes(e.type) && e.value.trim()) return e.value.trim();
            return (e.getAttribute('title') ?? '').trim();
          };
          return [...document.querySelectorAll('input, select, textarea, button')]
            .filter(e => !(e.tagName === 'INPUT' && e.type === 'hidden'))
            .filter(e => !nameOf(e))
            .map(e => e.outerHTML.slice(0, 160));
        }
        """;

    public static async Task<IReadOnlyList<string>> UnnamedControlsAsync(IPage page) =>
        await page.EvaluateAsync<string[]>(UnnamedControlsScript);

    public static async Task AssertAsync(IPage page)
    {
        var where = page.Url;
        (await page.Locator("h1").CountAsync()).ShouldBe(1, $"one h1 on {where}");
        var unnamed = await UnnamedControlsAsync(page);
        unnamed.ShouldBeEmpty($"controls without an accessible name on {where}: {string.Join(" | ", unnamed)}");
        var body = await page.Locator("body").InnerTextAsync();
        body.ShouldNotContain("An unhandled exception", Case.Insensitive, $"error page at {where}");
        body.ShouldNotContain("An unhandled error has occurred", Case.Insensitive, $"Blazor error bar at {where}");
    }
}
