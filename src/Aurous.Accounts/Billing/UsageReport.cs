namespace Aurous.Accounts.Billing;

/// <summary>Tokens and credits of one UTC day, one model, one modality and one direction (input or output).</summary>
public sealed record UsageRow(DateOnly Date, string Model, string Modality, string Direction, long Tokens, decimal Credits);

/// <summary>One day's totals (every day of the window is present, idle days with zeros).</summary>
public sealed record DailyUsage(DateOnly Date, long Tokens, decimal Credits);

/// <summary>The window's totals for one model, modality and direction.</summary>
public sealed record ModelUsage(string Model, string Modality, string Direction, long Tokens, decimal Credits)
{
    public string Label => $"{Model} {Direction} {Modality}";
}

/// <summary>
/// A team's usage over a window of UTC days, from its receipts. The daily and per-model views and the CSV export are
/// all projections of <see cref="Rows"/>, so the charts, the tables and the export agree by construction.
/// </summary>
public sealed record UsageReport(DateOnly From, DateOnly To, IReadOnlyList<UsageRow> Rows)
{
    public const int WindowDays = 30;

    public long TotalTokens => Rows.Sum(r => r.Tokens);

    public decimal TotalCredits => Rows.Sum(r => r.Credits);

    public IReadOnlyList<DailyUsage> ByDay
    {
        get
        {
            var days = Rows.GroupBy(r => r.Date).ToDictionary(g => g.Key, g => (Tokens: g.Sum(r => r.Tokens), Credits: g.Sum(r => r.Credits)));
            var result = new List<DailyUsage>();
            for (var day = From; day <= To; day = day.AddDays(1))
            {
                var (tokens, credits) = days.GetValueOrDefault(day);
                result.Add(new DailyUsage(day, tokens, CreditAmount.Normalize(credits)));
            }
            return result;
        }
    }

    /// <summary>Per model, modality and direction, most tokens first.</summary>
    public IReadOnlyList<ModelUsage> ByModel => Rows
        .GroupBy(r => (r.Model, r.Modality, r.Direction))
        .Select(g => new ModelUsage(g.Key.Model, g.Key.Modality, g.Key.Direction, g.Sum(r => r.Tokens), CreditAmount.Normalize(g.Sum(r => r.Credits))))
        .OrderByDescending(m => m.Tokens).ThenBy(m => m.Model, StringComparer.Ordinal)
        .ThenBy(m => m.Direction, StringComparer.Ordinal).ThenBy(m => m.Modality, StringComparer.Ordinal)
        .ToList();

    /// <summary>The window of <see cref="WindowDays"/> UTC days that ends with today by <paramref name="now"/>.</summary>
    public static (DateOnly From, DateOnly To) WindowEndingAt(DateTimeOffset now)
    {
        var today = DateOnly.FromDateTime(now.UtcDateTime);
        return (today.AddDays(1 - WindowDays), today);
    }
}
