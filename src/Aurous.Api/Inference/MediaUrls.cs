namespace Aurous.Api.Inference;

/// <summary>
/// The media URLs the API passes on to the worker: http(s) or <c>data:</c>. This is only the syntactic gate; the
/// worker's fetcher enforces the network rules (public addresses only, redirects re-checked, size and time caps).
/// </summary>
public static class MediaUrls
{
    public static bool IsAcceptable(string url) =>
        url.StartsWith("data:", StringComparison.OrdinalIgnoreCase)
        || Uri.TryCreate(url, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttps || uri.Scheme == Uri.UriSchemeHttp);
}
