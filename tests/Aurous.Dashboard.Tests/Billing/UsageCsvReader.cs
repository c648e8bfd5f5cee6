using System.Globalization;
using System.Text;
using Aurous.Accounts.Billing;

namespace Aurous.Dashboard.Tests.Billing;

/// <summary>Reads the usage CSV back (RFC 4180 quoting), independently of the writer, to compare it with a report.</summary>
public static class UsageCsvReader
{
    public static IReadOnlyList<UsageRow> Parse(string csv)
    {
        var records = Records(csv).ToList();
        string.Join(",", records[0]).ShouldBe("date,model,modality,direction,tokens,credits");
        return records.Skip(1).Select(f => new UsageRow(
            DateOnly.ParseExact(f[0], "yyyy-MM-dd", CultureInfo.InvariantCulture), f[1], f[2], f[3],
            long.Parse(f[4], CultureInfo.InvariantCulture), decimal.Parse(f[5], NumberStyles.Number, CultureInfo.InvariantCulture))).ToList();
    }

    private static IEnumerable<List<string>> Records(string csv)
    {
        var fields = new List<string>();
        var field = new StringBuilder();
        var quoted = false;
        for (var i = 0; i < csv.Length; i++)
        {
            var c = csv[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < csv.Length && csv[i + 1] == '"') { field.Append('"'); i++; }
                else if (c == '"') { quoted = false; }
                else { field.Append(c); }
            }
            else if (c == '"') { quoted = true; }
            else if (c == ',') { fields.Add(field.ToString()); field.Clear(); }
            else if (c == '\r' && i + 1 < csv.Length && csv[i + 1] == '\n')
            {
                fields.Add(field.ToString());
                field.Clear();
                yield return fields;
                fields = [];
                i++;
            }
            else { field.Append(c); }
        }
        if (field.Length > 0 || fields.Count > 0)
        {
            fields.Add(field.ToString());
            yield return fields;
        }
    }
}
