using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace Aurous.ServiceDefaults;

/// <summary>
/// The service's <see cref="TimeProvider"/>: the system clock, shifted by an offset that only moves forward. The
/// offset can be moved only when <c>Testing:AdjustableClock</c> is true (never in a deployment), through
/// <c>POST /internal/clock {"advance_seconds": n}</c>, so that an end-to-end test can age outputs, grace windows and
/// queued jobs by days without sleeping. Everything that decides by time (expiry, grace, backoff) reads this clock,
/// never the database's <c>now()</c>.
/// </summary>
public sealed class AdjustableClock : TimeProvider
{
    public const string EnabledKey = "Testing:AdjustableClock";
    public const string Path = "/internal/clock";

    private long _offsetTicks;

    public TimeSpan Offset => TimeSpan.FromTicks(Interlocked.Read(ref _offsetTicks));

    public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + Offset;

    public override long GetTimestamp() => System.GetTimestamp();

    public override TimeZoneInfo LocalTimeZone => System.LocalTimeZone;

    public void Advance(TimeSpan by)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(by, TimeSpan.Zero);
        Interlocked.Add(ref _offsetTicks, by.Ticks);
    }

    internal static bool IsEnabled(IConfiguration configuration) => configuration.GetValue(EnabledKey, false);

    /// <summary>Registers the clock as the service's <see cref="TimeProvider"/> (the plain system clock unless enabled).</summary>
    internal static void Register(IHostApplicationBuilder builder)
    {
        if (IsEnabled(builder.Configuration))
        {
            builder.Services.TryAddSingleton<AdjustableClock>();
            builder.Services.TryAddSingleton<TimeProvider>(sp => sp.GetRequiredService<AdjustableClock>());
        }
        else
        {
            builder.Services.TryAddSingleton(TimeProvider.System);
        }
    }

    /// <summary>Maps <see cref="Path"/> when the clock is adjustable; the caller must present the internal API key when one is set.</summary>
    internal static void Map(WebApplication app)
    {
        if (!IsEnabled(app.Configuration))
        {
            return;
        }
        app.MapPost(Path, async (HttpContext context, AdjustableClock clock) =>
        {
            var key = app.Configuration["InternalApi:Key"];
            if (!string.IsNullOrEmpty(key) && context.Request.Headers.Authorization.ToString() != "Bearer " + key)
            {
                return Results.StatusCode(StatusCodes.Status401Unauthorized);
            }
            using var body = await global::System.Text.Json.JsonDocument.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted);
            var seconds = body.RootElement.TryGetProperty("advance_seconds", out var s) ? s.GetDouble() : 0;
            if (seconds < 0)
            {
                return Results.BadRequest();
            }
            clock.Advance(TimeSpan.FromSeconds(seconds));
            return Results.Json(new { now = clock.GetUtcNow(), offset_seconds = clock.Offset.TotalSeconds });
        }).ExcludeFromDescription();
    }
}
