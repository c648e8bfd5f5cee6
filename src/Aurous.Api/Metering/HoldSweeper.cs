using Aurous.Accounts;
using Microsoft.Extensions.Options;

namespace Aurous.Api.Metering;

/// <summary>
/// Releases holds whose requests stopped renewing them, and leases whose instance did (a crashed API instance), and deletes expired idempotency
/// records. Safe to run on every replica: each statement only touches rows still in the state it expects.
/// </summary>
public sealed class HoldSweeper(CreditHolds holds, IdempotencyStore idempotency, IOptions<MeteringOptions> options, ILogger<HoldSweeper> log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var lifetime = options.Value.HoldLifetime;
        var every = options.Value.SweepInterval;
        using var timer = new PeriodicTimer(every);
        do
        {
            try
            {
                var expired = await holds.ExpireStaleAsync(lifetime, options.Value.LeaseLifetime, stoppingToken);
                var deleted = await idempotency.DeleteExpiredAsync(stoppingToken);
                if (expired > 0 || deleted > 0)
                {
                    log.LogWarning("Expired {Holds} stale credit holds; deleted {Keys} expired idempotency records", expired, deleted);
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                log.LogError(ex, "Hold sweep failed; retrying in {Every}", every);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}
