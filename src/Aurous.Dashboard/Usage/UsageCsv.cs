using System.Globalization;
using System.Text;
using Aurous.Accounts.Billing;

namespace Aurous.Dashboard.Usage;

/// <summary>A usage report as CSV (RFC 4180, invariant culture): one line per report row, credits at full precision.</summary>
public static class UsageCsv
{
    public const string Header = "date,model,modality,direction,tokens,credits";

    public static string Write(UsageReport report)
    {
        var csv = new StringBuilder(Header).Append("\r\n");
        foreach (var row in report.Rows)
        {
            csv.Append(row.Date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)).Append(',')
               .Append(Field(row.Model)).Append(',')
               .Append(Field(row.Modality)).Append(',')
               .Append(Field(row.Direction)).Append(',')
               .Append(row.Tokens.ToString(CultureInfo.InvariantCulture)).Append(',')
               .Append(CreditAmount.Exact(row.Credits)).Append("\r\n");
        }
        return csv.ToString();
    }

    /// <summary>Quotes a field that holds a separator, a quote or a line break (doubling its quotes).</summary>
    private static string Field(string value) =>
        value.AsSpan().IndexOfAny(",\"\r\n") < 0 ? value : "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
