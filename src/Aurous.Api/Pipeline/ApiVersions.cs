using System.Globalization;

namespace Aurous.Api.Pipeline;

/// <summary>
/// Dated API versions (<c>Aurous-Version: YYYY-MM-DD</c>). A requested date selects the newest released version on or
/// before it, so pinning to the day you integrated keeps working when new versions ship.
/// </summary>
public static class ApiVersions
{
    public const string Default = "2026-05-15";

    /// <summary>Released versions, oldest first.</summary>
    public static readonly IReadOnlyList<string> Released = [Default];

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
