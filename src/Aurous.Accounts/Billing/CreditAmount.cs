using System.Globalization;

namespace Aurous.Accounts.Billing;

/// <summary>How credit amounts read in the dashboard and its exports: invariant culture, never scientific notation.</summary>
public static class CreditAmount
{
    /// <summary>Drops the trailing zeros Postgres numeric(24,12) carries (1000.000000000000 becomes 1000).</summary>
    public static decimal Normalize(decimal value) => value / 1.000000000000000000000000000000000m;

    /// <summary>For people: at most 6 decimals ("999.999876").</summary>
    public static string Display(decimal value) =>
        Math.Round(value, 6, MidpointRounding.AwayFromZero).ToString("0.######", CultureInfo.InvariantCulture);

    /// <summary>For machines (CSV): every decimal the ledger keeps, so exported rows add up exactly.</summary>
    public static string Exact(decimal value) => Normalize(value).ToString(CultureInfo.InvariantCulture);
}
