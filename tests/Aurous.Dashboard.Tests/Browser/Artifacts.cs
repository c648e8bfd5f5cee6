namespace Aurous.Dashboard.Tests.Browser;

/// <summary>
/// Where the browser tests leave what they saw: a screenshot of every page visited, and on failure the last screen and
/// a Playwright trace (open with `pwsh bin/Debug/net10.0/playwright.ps1 show-trace FILE` or trace.playwright.dev).
/// With AUROUS_DOCS_SCREENSHOTS=1 the pages the documentation shows are also copied to docs/images/dashboard/.
/// </summary>
public static class Artifacts
{
    public static string Root(DashboardSystem dashboard) =>
        Path.Combine(dashboard.System.Settings.RepoRoot, "artifacts", "test-results", "dashboard");

    public static string Screens(DashboardSystem dashboard) => Directory.CreateDirectory(Path.Combine(Root(dashboard), "screens")).FullName;

    public static string Failures(DashboardSystem dashboard) => Directory.CreateDirectory(Path.Combine(Root(dashboard), "failures")).FullName;

    public static bool UpdateDocs => Environment.GetEnvironmentVariable("AUROUS_DOCS_SCREENSHOTS") == "1";

    public static string DocsImages(DashboardSystem dashboard) =>
        Directory.CreateDirectory(Path.Combine(dashboard.System.Settings.RepoRoot, "docs", "images", "dashboard")).FullName;

    /// <summary>A file name made of letters, digits and dashes.</summary>
    public static string Safe(string name) =>
        new(name.Select(c => char.IsAsciiLetterOrDigit(c) ? c : '-').ToArray());
}
