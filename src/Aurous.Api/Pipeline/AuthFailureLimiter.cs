using System.Net;
using System.Threading.RateLimiting;

namespace Aurous.Api.Pipeline;

public sealed class AuthFailureLimitOptions
{
    public const string Section = "AuthFailures";

    /// <summary>Failed authentications (unknown, revoked or expired well-formed keys) a client may make per window.</summary>
    public int PermitLimit { get; set; } = 20;

    public TimeSpan Window { get; set; } = TimeSpan.FromSeconds(10);
}

/// <summary>
/// Counts failed authentications per client address (a fixed window per address). A client past its limit is answered
/// 429 for any key that is not already cached as valid, before any Postgres lookup, until its window ends. Keys checked
/// from other addresses, and cached valid keys from this one, are unaffected. Behind a reverse proxy the address is
/// the proxy's unless forwarded headers are configured.
/// </summary>
public sealed class AuthFailureLimiter(AuthFailureLimitOptions options)
{
    private readonly PartitionedRateLimiter<IPAddress> _failures = PartitionedRateLimiter.Create<IPAddress, IPAddress>(
        address => RateLimitPartition.GetFixedWindowLimiter(address, _ => new FixedWindowRateLimiterOptions
        {
            PermitLimit = options.PermitLimit,
            Window = options.Window,
            QueueLimit = 0,
            AutoReplenishment = true,
        }));

    /// <summary>True when <paramref name="address"/> has used up its failures for now; <paramref name="retryAfterSeconds"/> says until when.</summary>
    public bool IsBlocked(IPAddress? address, out int retryAfterSeconds)
    {
        // Zero permits asks whether any are left without taking one.
        using var probe = _failures.AttemptAcquire(address ?? IPAddress.None, 0);
        retryAfterSeconds = probe.IsAcquired ? 0
            : probe.TryGetMetadata(MetadataName.RetryAfter, out var retry) ? Math.Max(1, (int)Math.Ceiling(retry.TotalSeconds)) : (int)Math.Ceiling(options.Window.TotalSeconds);
        return !probe.IsAcquired;
    }

    public void RecordFailure(IPAddress? address)
    {
        using var _ = _failures.AttemptAcquire(address ?? IPAddress.None, 1);
    }
}

public static class AuthFailureLimiterExtensions
{
    public static IServiceCollection AddAuthFailureLimits(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<AuthFailureLimitOptions>().Bind(configuration.GetSection(AuthFailureLimitOptions.Section))
            .Validate(o => o.PermitLimit > 0 && o.Window > TimeSpan.Zero, "AuthFailures: PermitLimit and Window must be positive.")
            .ValidateOnStart();
        services.AddSingleton(sp => new AuthFailureLimiter(sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<AuthFailureLimitOptions>>().Value));
        return services;
    }
}
