using Npgsql;
using StackExchange.Redis;

namespace Aurous.Api.Pipeline;

/// <summary>
/// Turns a store that cannot be reached (Postgres restarting or down, a connection broken by a restart) into 503
/// <c>service_unavailable</c> with Retry-After rather than a 500, and clears the Postgres pool so that connections a
/// restart broke are not handed out again. Every 503 the API sends (this one, <c>model_unavailable</c>) carries Retry-After.
/// A request that ended badly (5xx, aborted, thrown) is handed to <see cref="OrphanedHolds"/>, which releases any hold
/// it could not release itself.
/// </summary>
public sealed class DependencyOutage(RequestDelegate next, NpgsqlDataSource db, OrphanedHolds orphans, ILogger<DependencyOutage> log)
{
    public const int RetryAfterSeconds = 1;

    public async Task InvokeAsync(HttpContext context)
    {
        context.Response.OnStarting(static state =>
        {
            var response = (HttpResponse)state;
            if (response.StatusCode == StatusCodes.Status503ServiceUnavailable && !response.Headers.ContainsKey("Retry-After"))
            {
                response.Headers.RetryAfter = RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            }
            return Task.CompletedTask;
        }, context.Response);
        var endedBadly = true;
        try
        {
            await next(context);
            endedBadly = context.Response.StatusCode >= 500 || context.RequestAborted.IsCancellationRequested;
        }
        catch (Exception ex) when (!context.Response.HasStarted && !context.RequestAborted.IsCancellationRequested && IsOutage(ex) is { } store)
        {
            if (store == "postgres")
            {
                // Idle connections died with the server: drop them rather than fail one request per connection.
                db.Clear();
            }
            log.LogWarning("{Store} is unavailable; answered 503 to {Method} {Path} ({RequestId}): {Message}",
                store, context.Request.Method, context.Request.Path, RequestContext.Of(context).RequestId, ex.Message);
            context.Response.Clear();
            await new ApiError(503, "api_error", "service_unavailable", "The service is temporarily unavailable. Retry shortly.").WriteAsync(context);
        }
        finally
        {
            if (endedBadly && context.Features.Get<RequestContext>()?.ApiKey is not null)
            {
                orphans.Check(RequestContext.Of(context).RequestId);
            }
        }
    }

    /// <summary>The store that could not be reached, or null when <paramref name="ex"/> is some other failure.</summary>
    public static string? IsOutage(Exception? ex)
    {
        for (; ex is not null; ex = ex.InnerException)
        {
            switch (ex)
            {
                // Server going away (admin or crash shutdown) or not yet accepting connections.
                case PostgresException pg when pg.SqlState is "57P01" or "57P02" or "57P03" || pg.SqlState.StartsWith("08", StringComparison.Ordinal):
                    return "postgres";
                case PostgresException:
                    return null;
                // Refused, reset, timed out, or a connection broken mid-command.
                case NpgsqlException npgsql when npgsql.IsTransient || npgsql.InnerException is IOException or System.Net.Sockets.SocketException or TimeoutException:
                    return "postgres";
                case RedisConnectionException or RedisTimeoutException:
                    return "redis";
            }
        }
        return null;
    }
}
