namespace Aurous.Dashboard.Components.Shared;

/// <summary>Where to go after signing in: only an address on this site, never another one.</summary>
public static class LocalUrls
{
    public static string OrHome(string? url) =>
        !string.IsNullOrEmpty(url) && url.StartsWith('/') && !url.StartsWith("//", StringComparison.Ordinal)
            && !url.StartsWith("/\\", StringComparison.Ordinal) ? url : "/";
}
