using System.Globalization;
using Aurous.Accounts.Billing;

namespace Aurous.Dashboard.Components.Charts;

/// <summary>The usage page's two charts, one bar per row of the table that follows each (the same report rows).</summary>
public static class UsageCharts
{
    public static IReadOnlyList<ChartBar> CreditsByDay(UsageReport report) => report.ByDay
        .Select(d => new ChartBar(d.Date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), d.Credits, CreditAmount.Display(d.Credits) + " credits"))
        .ToList();

    public static IReadOnlyList<ChartBar> TokensByModel(UsageReport report) => report.ByModel
        .Select(m => new ChartBar(m.Label, m.Tokens, m.Tokens.ToString(CultureInfo.InvariantCulture) + " tokens"))
        .ToList();
}
