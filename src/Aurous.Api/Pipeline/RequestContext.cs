using Aurous.Accounts;

namespace Aurous.Api.Pipeline;

/// <summary>What the pipeline learns about a request as it passes: its id, the API version applied, and the caller.</summary>
public sealed class RequestContext
{
    public required string RequestId { get; init; }

    /// <summary>The version the client asked for in Aurous-Version (resolved), if any.</summary>
    public string? RequestedVersion { get; init; }

    public string ApiVersion => RequestedVersion ?? ApiKey?.TeamApiVersion ?? ApiVersions.Default;

    /// <summary>The authenticated key (and through it the team); null until authentication ran.</summary>
    public ApiKeyRecord? ApiKey { get; set; }

    public string TeamId => ApiKey?.TeamId ?? throw new InvalidOperationException("The request is not authenticated.");

    public static RequestContext Of(HttpContext context) =>
        context.Features.Get<RequestContext>() ?? throw new InvalidOperationException("The Aurous pipeline did not run for this request.");
}
