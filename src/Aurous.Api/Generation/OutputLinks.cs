namespace Aurous.Api.Generation;

/// <summary>
/// The public address output and preview links are built on: <c>Outputs:PublicBaseUrl</c> (the address clients reach
/// the API at, which the worker uses too, so webhooks carry the same links), or, where it is not set, the address this
/// request came to.
/// </summary>
public sealed class OutputLinks(IConfiguration configuration)
{
    public const string PublicBaseUrlKey = "Outputs:PublicBaseUrl";

    private readonly Uri? _configured = Parse(configuration[PublicBaseUrlKey]);

    public Uri BaseFor(HttpContext context) => _configured ?? new Uri($"{context.Request.Scheme}://{context.Request.Host}");

    private static Uri? Parse(string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }
        return Uri.TryCreate(value, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
            ? uri
            : throw new InvalidOperationException($"{PublicBaseUrlKey} must be an absolute http(s) URL; it is '{value}'.");
    }
}
