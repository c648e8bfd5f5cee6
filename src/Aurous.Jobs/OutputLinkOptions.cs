using Microsoft.Extensions.DependencyInjection;

namespace Aurous.Jobs;

/// <summary>
/// Section <c>Outputs</c>: <see cref="PublicBaseUrl"/> is the API's public address, on which output and preview links
/// are built (<c>{base}/v1/outputs/{token}</c>): by the API in its bodies and by the dashboard on its jobs page. Empty:
/// the API uses the address a request came to, and the dashboard shows no links.
/// </summary>
public sealed class OutputLinkOptions
{
    public const string Section = "Outputs";

    public string? PublicBaseUrl { get; set; }

    /// <summary>The address as a base URI ending in '/', or null when none is set.</summary>
    public Uri? BaseUri => IsHttpUrl(PublicBaseUrl, out var uri) ? new Uri(uri.AbsoluteUri.TrimEnd('/') + "/") : null;

    internal static bool IsValid(OutputLinkOptions options) => string.IsNullOrWhiteSpace(options.PublicBaseUrl) || IsHttpUrl(options.PublicBaseUrl, out _);

    private static bool IsHttpUrl(string? value, out Uri uri) =>
        Uri.TryCreate(value, UriKind.Absolute, out uri!) && uri.Scheme is "http" or "https";
}

public static class OutputLinkOptionsExtensions
{
    /// <summary>Binds <see cref="OutputLinkOptions"/> and checks them at start-up: empty, or an absolute http(s) URL.</summary>
    public static IServiceCollection AddOutputLinkOptions(this IServiceCollection services)
    {
        services.AddOptions<OutputLinkOptions>().BindConfiguration(OutputLinkOptions.Section)
            .Validate(OutputLinkOptions.IsValid, $"{OutputLinkOptions.Section}:{nameof(OutputLinkOptions.PublicBaseUrl)} must be empty or an absolute http(s) URL.")
            .ValidateOnStart();
        return services;
    }
}
