using System.Globalization;

namespace Aurous.Accounts;

/// <summary>
/// Dated API versions (<c>Aurous-Version: YYYY-MM-DD</c>). A requested date selects the newest released version on or
/// before it, so pinning to the day you integrated keeps working when new versions ship. A team's pin (the version a
/// request without the header gets) is always one of <see cref="Released"/>; the API and the dashboard share this list.
/// </summary>
public static class ApiVersions
{
    public const string Default = "2026-05-15";

    /// <summary>Released versions, oldest first.</summary>
    public static readonly IReadOnlyList<string> Released = [Default];

    public static bool IsReleased(string version) => Released.Contains(version, StringComparer.Ordinal);

    public enum Outcome { Resolved, Malformed, BeforeFirstRelease }

    public static Outcome TryResolve(string requested, out string version)
    {
        version = "";
        if (requested.Length != 10 || !DateOnly.TryParseExact(requested, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out _))
        {
            return Outcome.Malformed;
        }
        var match = Released.LastOrDefault(v => string.CompareOrdinal(v, requested) <= 0);
        if (match is null)
        {
            return Outcome.BeforeFirstRelease;
        }
        version = match;
        return Outcome.Resolved;
    }
}
