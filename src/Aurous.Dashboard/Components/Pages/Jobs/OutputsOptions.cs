namespace Aurous.Dashboard.Components.Pages.Jobs;

/// <summary>
/// Section <c>Outputs</c>: <see cref="PublicBaseUrl"/> is the API's public address (the same setting the API and the
/// worker use), on which the jobs page links outputs: <c>{base}/v1/outputs/{token}</c>. Empty: no links.
/// </summary>
public sealed class OutputsOptions
{
    public const string Section = "Outputs";

    public string? PublicBaseUrl { get; set; }

    /// <summary>The address as a base URI ending in '/', or null when none is set.</summary>
    public Uri? BaseUri => IsHttpUrl(PublicBaseUrl, out var uri) ? new Uri(uri.AbsoluteUri.TrimEnd('/') + "/") : null;

    public static bool IsValid(OutputsOptions options) => string.IsNullOrWhiteSpace(options.PublicBaseUrl) || IsHttpUrl(options.PublicBaseUrl, out _);

    private static bool IsHttpUrl(string? value, out Uri uri) =>
        Uri.TryCreate(value, UriKind.Absolute, out uri!) && uri.Scheme is "http" or "https";
}
