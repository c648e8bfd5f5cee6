using Aurous.Accounts.Billing;
using Aurous.Dashboard.Usage;

namespace Aurous.Dashboard.Tests.Billing;

public sealed class UsageCsvTests
{
    [Fact]
    public void Every_report_row_is_one_csv_line_at_full_precision_and_quoted_where_needed()
    {
        var day = new DateOnly(2026, 12, 3);
        var report = new UsageReport(day.AddDays(-29), day,
        [
            new UsageRow(day, "aurous-grow-2.0-pro", "text", "input", 1200, 0.000252000000m),
            new UsageRow(day, "odd,\"model\"", "image", "output", 4096, 1.5m),
        ]);

        var lines = UsageCsv.Write(report).Split("\r\n");

        lines.ShouldBe([
            "date,model,modality,direction,tokens,credits",
            "2026-12-03,aurous-grow-2.0-pro,text,input,1200,0.000252",
            "2026-12-03,\"odd,\"\"model\"\"\",image,output,4096,1.5",
            "",
        ]);
        UsageCsvReader.Parse(UsageCsv.Write(report)).ShouldBe(report.Rows);
    }
}
