using Aurous.Jobs;
using Microsoft.Extensions.Options;

namespace Aurous.Api.Generation;

/// <summary>
/// The public address output and preview links are built on: <c>Outputs:PublicBaseUrl</c> (the address clients reach
/// the API at, which the worker uses too, so webhooks carry the same links), or, where it is not set, the address this
/// request came to.
/// </summary>
public sealed class OutputLinks(IOptions<OutputLinkOptions> options)
{
    private readonly Uri? _configured = options.Value.BaseUri;

    public Uri BaseFor(HttpContext context) => _configured ?? new Uri($"{context.Request.Scheme}://{context.Request.Host}");
}
