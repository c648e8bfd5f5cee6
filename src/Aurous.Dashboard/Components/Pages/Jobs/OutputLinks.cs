using Microsoft.Extensions.Options;

namespace Aurous.Dashboard.Components.Pages.Jobs;

/// <summary>The base the jobs page builds output links on: <see cref="OutputsOptions.BaseUri"/>.</summary>
public sealed class OutputLinks(IOptions<OutputsOptions> options)
{
    public Uri? BaseUri { get; } = options.Value.BaseUri;
}
