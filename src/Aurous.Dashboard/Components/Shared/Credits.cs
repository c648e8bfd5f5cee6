using System.Globalization;

namespace Aurous.Dashboard.Components.Shared;

/// <summary>Credits as the dashboard shows them: invariant culture, up to six decimals (e.g. 999.999876).</summary>
public static class Credits
{
    public static string Format(decimal credits) => decimal.Round(credits, 6).ToString("0.######", CultureInfo.InvariantCulture);
}
