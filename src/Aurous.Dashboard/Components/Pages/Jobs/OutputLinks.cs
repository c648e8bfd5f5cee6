using Microsoft.Extensions.Configuration;

namespace Aurous.Dashboard.Components.Pages.Jobs;

/// <summary>
/// The API's public address (<c>Outputs:PublicBaseUrl</c>, the same setting the API and the worker use), on which the
/// jobs page links outputs: <c>{base}/v1/outputs/{token}</c>. Null when the setting is absent or not an http(s) URL.
/// </summary>
public sealed class OutputLinks(IConfiguration configuration)
{
    public const string Key = "Outputs:PublicBaseUrl";

    public Uri? BaseUri { get; } = Uri.TryCreate(configuration[Key], UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
        ? new Uri(uri.AbsoluteUri.TrimEnd('/') + "/")
        : null;
}
