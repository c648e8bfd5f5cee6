using Microsoft.Extensions.Options;

namespace Aurous.Api.Metering;

/// <summary>
/// How long a request's credit hold and Idempotency-Key lease live without renewal, and how often a request in
/// flight renews them (section <c>Metering</c>, env <c>Metering__HoldLifetime</c>...; TimeSpans such as <c>00:15:00</c>).
/// A request renews both while it works, so only a request whose API instance died loses them.
/// </summary>
public sealed class MeteringOptions
{
    public const string Section = "Metering";

    /// <summary>A hold not renewed for this long belongs to a crashed request: the sweeper expires it.</summary>
    public TimeSpan HoldLifetime { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>A running Idempotency-Key not renewed for this long may be taken over by a retry.</summary>
    public TimeSpan IdempotencyLease { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How often a request in flight renews its hold and its key; default a third of the shorter lifetime.</summary>
    public TimeSpan? HeartbeatInterval { get; set; }

    /// <summary>How often the sweeper looks for stale holds and expired idempotency records.</summary>
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Whether this instance places the holds of a busy team's requests against a credit lease in memory
    /// (<see cref="CreditLeases"/>) instead of one Postgres hold per request.
    /// </summary>
    public bool Leases { get; set; } = true;

    /// <summary>A team gets a lease here once this instance serves it this many metered requests in a second.</summary>
    public int LeaseAfterRequestsPerSecond { get; set; } = 5;

    /// <summary>A lease's slice covers about this much of the team's spend here (and at least 16 requests' holds).</summary>
    public TimeSpan LeaseSpan { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>A slice is taken only while it is at most this share of the team's available credits.</summary>
    public double LeaseMaxShare { get; set; } = 0.125;

    /// <summary>A lease is closed once its team has had no request here for this long.</summary>
    public TimeSpan LeaseIdle { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>A lease not renewed for this long belongs to a stopped instance: the sweeper expires it. Renewed every quarter of it.</summary>
    public TimeSpan LeaseLifetime { get; set; } = TimeSpan.FromSeconds(60);

    public TimeSpan Heartbeat => HeartbeatInterval ?? (HoldLifetime < IdempotencyLease ? HoldLifetime : IdempotencyLease) / 3;
}

internal sealed class MeteringOptionsValidator : IValidateOptions<MeteringOptions>
{
    public ValidateOptionsResult Validate(string? name, MeteringOptions options)
    {
        var failures = new List<string>();
        Positive(options.HoldLifetime, nameof(options.HoldLifetime));
        Positive(options.IdempotencyLease, nameof(options.IdempotencyLease));
        Positive(options.SweepInterval, nameof(options.SweepInterval));
        Positive(options.Heartbeat, nameof(options.HeartbeatInterval));
        Positive(options.LeaseIdle, nameof(options.LeaseIdle));
        Positive(options.LeaseLifetime, nameof(options.LeaseLifetime));
        Positive(options.LeaseSpan, nameof(options.LeaseSpan));
        if (options.LeaseMaxShare is not (> 0 and <= 1))
        {
            failures.Add($"{MeteringOptions.Section}:LeaseMaxShare must be above 0 and at most 1, not {options.LeaseMaxShare}.");
        }
        if (options.LeaseAfterRequestsPerSecond < 1)
        {
            failures.Add($"{MeteringOptions.Section}:LeaseAfterRequestsPerSecond must be at least 1, not {options.LeaseAfterRequestsPerSecond}.");
        }
        // One missed beat (a slow database round trip) must not lose the hold or the key.
        var shorter = options.HoldLifetime < options.IdempotencyLease ? options.HoldLifetime : options.IdempotencyLease;
        if (options.Heartbeat * 2 > shorter)
        {
            failures.Add($"{MeteringOptions.Section}:HeartbeatInterval ({options.Heartbeat}) must be at most half of the shorter of HoldLifetime and IdempotencyLease ({shorter}).");
        }
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);

        void Positive(TimeSpan value, string key)
        {
            if (value <= TimeSpan.Zero || value.TotalMilliseconds > int.MaxValue)
            {
                failures.Add($"{MeteringOptions.Section}:{key} must be a positive duration of at most 24 days (e.g. 00:00:30), not {value}.");
            }
        }
    }
}

public static class MeteringServiceExtensions
{
    /// <summary>Binds and validates <see cref="MeteringOptions"/> at start-up, so a bad setting stops the API before it serves.</summary>
    public static IServiceCollection AddMeteringOptions(this IServiceCollection services)
    {
        services.AddOptions<MeteringOptions>().BindConfiguration(MeteringOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<MeteringOptions>, MeteringOptionsValidator>();
        return services;
    }
}
