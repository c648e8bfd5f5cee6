namespace Aurous.InferenceWorker.Jobs;

/// <summary>
/// Section <c>Outputs</c>: <see cref="PublicBaseUrl"/> is the API's public address, on which the output links in a
/// job's webhook event are built (the API serves <c>/v1/outputs/{token}</c>), so the worker renders the same URLs as
/// <c>GET /v1/images/{id}</c>.
/// </summary>
public sealed class OutputsOptions
{
    public const string Section = "Outputs";

    public string PublicBaseUrl { get; set; } = "";

    public Uri BaseUri => new(PublicBaseUrl.TrimEnd('/') + "/");

    public static bool IsUsable(string? url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https";
}
