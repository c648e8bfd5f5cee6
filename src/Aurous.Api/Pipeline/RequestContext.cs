using Aurous.Accounts;
using Aurous.Api.Metering;

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

    /// <summary>The RPM bucket after this request was counted (every authenticated /v1 route).</summary>
    public BucketState? RequestBucket { get; set; }

    /// <summary>
    /// True while this request's RPM unit is still to be taken: on token-metered routes it is taken at admission, in
    /// the same Redis call as the token estimate, or when the request ends before admission (<see cref="RequestRateLimiting"/>).
    /// </summary>
    public bool RequestUnitPending { get; set; }

    /// <summary>The TPM bucket as this request last saw it (chat and embeddings routes).</summary>
    public BucketState? TokenBucket { get; set; }

    /// <summary>Time spent per pipeline stage, reported in the standard Server-Timing header so anyone can see where a request's time went.</summary>
    public List<(string Stage, double Milliseconds)> Timings { get; } = new(8);

    /// <summary>Records the time since <paramref name="startTimestamp"/> (a Stopwatch timestamp) under <paramref name="stage"/>.</summary>
    public void Time(string stage, long startTimestamp) =>
        Timings.Add((stage, System.Diagnostics.Stopwatch.GetElapsedTime(startTimestamp).TotalMilliseconds));

    public string TeamId => ApiKey?.TeamId ?? throw new InvalidOperationException("The request is not authenticated.");

    public static RequestContext Of(HttpContext context) =>
        context.Features.Get<RequestContext>() ?? throw new InvalidOperationException("The Aurous pipeline did not run for this request.");
}
