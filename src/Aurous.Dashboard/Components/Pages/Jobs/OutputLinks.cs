using Aurous.Jobs;
using Microsoft.Extensions.Options;

namespace Aurous.Dashboard.Components.Pages.Jobs;

/// <summary>The base the jobs page builds output links on: <see cref="OutputLinkOptions.BaseUri"/>; null shows no links.</summary>
public sealed class OutputLinks(IOptions<OutputLinkOptions> options)
{
    public Uri? BaseUri { get; } = options.Value.BaseUri;
}
