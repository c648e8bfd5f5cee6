using System.Globalization;
using Aurous.Accounts.Billing;
using Aurous.Dashboard.Components.Pages.Usage;
using Bunit;

namespace Aurous.Dashboard.Tests.Billing;

/// <summary>The usage page's view of a report: each chart has exactly the bars of the table that follows it.</summary>
public sealed class UsageViewTests : BunitContext
{
    private static readonly DateOnly Today = new(2026, 12, 3);

    private static UsageReport Report() => new(Today.AddDays(-29), Today,
    [
        new UsageRow(Today.AddDays(-3), "aurous-grow-2.0-pro", "text", "input", 1200, 0.000252m),
        new UsageRow(Today.AddDays(-3), "aurous-grow-2.0-pro", "text", "output", 300, 0.000252m),
        new UsageRow(Today, "aurous-grow-2.0-pro", "text", "input", 800, 0.000168m),
        new UsageRow(Today, "aurous-embed-vision-1.0", "text", "input", 5000, 0.0001m),
        new UsageRow(Today, "aurous-embed-vision-1.0", "visual", "input", 1024, 0.00004m),
    ]);

    [Fact]
    public void The_day_chart_has_one_bar_per_day_of_the_table_with_its_credits()
    {
        var view = Render<UsageView>(p => p.Add(v => v.Report, Report()).Add(v => v.TeamId, "team_x"));

        var chart = view.Find("svg[aria-label='Credits by day']");
        chart.GetAttribute("role").ShouldBe("img");
        var bars = chart.QuerySelectorAll("rect.bar").Select(r => (r.GetAttribute("data-label"), r.GetAttribute("data-value"))).ToList();
        var rows = view.Find("table[data-testid='table-by-day']").QuerySelectorAll("tbody tr")
            .Select(tr => tr.QuerySelectorAll("td").Select(td => td.TextContent.Trim()).ToArray()).ToList();

        rows.Count.ShouldBe(30);
        bars.Count.ShouldBe(rows.Count);
        bars.Select(b => b.Item1).ShouldBe(rows.Select(r => r[0]));
        bars.Select(b => b.Item2).ShouldBe(rows.Select(r => r[2] + " credits"));
        rows[^1].ShouldBe(["2026-12-03", "6824", "0.000308"]);
        rows[^4].ShouldBe(["2026-11-30", "1500", "0.000504"]);
        // The tooltip names the day and its amount.
        chart.QuerySelectorAll("rect.bar")[^1].QuerySelector("title")!.TextContent.ShouldBe("2026-12-03: 0.000308 credits");
    }

    [Fact]
    public void The_model_chart_has_one_bar_per_model_modality_and_direction_row_with_its_tokens()
    {
        var view = Render<UsageView>(p => p.Add(v => v.Report, Report()).Add(v => v.TeamId, "team_x"));

        var bars = view.Find("svg[aria-label='Tokens by model']").QuerySelectorAll("rect.bar")
            .Select(r => (r.GetAttribute("data-label"), r.GetAttribute("data-value"))).ToList();
        var rows = view.Find("table[data-testid='table-by-model']").QuerySelectorAll("tbody tr")
            .Select(tr => tr.QuerySelectorAll("td").Select(td => td.TextContent.Trim()).ToArray()).ToList();

        rows.Select(r => string.Join("|", r)).ShouldBe([
            "aurous-embed-vision-1.0|input|text|5000|0.0001",
            "aurous-grow-2.0-pro|input|text|2000|0.00042",
            "aurous-embed-vision-1.0|input|visual|1024|0.00004",
            "aurous-grow-2.0-pro|output|text|300|0.000252",
        ]);
        bars.Select(b => b.Item1).ShouldBe(rows.Select(r => $"{r[0]} {r[1]} {r[2]}"));
        bars.Select(b => b.Item2).ShouldBe(rows.Select(r => r[3] + " tokens"));
        view.Find("[data-testid='usage-total-tokens']").TextContent.ShouldBe("8324");
        view.Find("[data-testid='usage-total-credits']").TextContent.ShouldBe("0.000812");
        view.Find("a[href='/teams/team_x/usage.csv']").TextContent.ShouldBe("Download CSV");
    }

    [Fact]
    public void The_tallest_bar_is_the_busiest_row()
    {
        var view = Render<UsageView>(p => p.Add(v => v.Report, Report()).Add(v => v.TeamId, "team_x"));

        var heights = view.Find("svg[aria-label='Tokens by model']").QuerySelectorAll("rect.bar")
            .Select(r => double.Parse(r.GetAttribute("height")!, CultureInfo.InvariantCulture)).ToList();

        heights.ShouldBe(heights.OrderByDescending(h => h).ToList());
        heights[0].ShouldBeGreaterThan(heights[^1] * 10);
    }
}
