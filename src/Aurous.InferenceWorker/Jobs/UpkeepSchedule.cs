using Aurous.Jobs;
using Hangfire;
using Microsoft.Extensions.Options;

namespace Aurous.InferenceWorker.Jobs;

/// <summary>
/// Registers (or updates) the recurring upkeep jobs when the worker starts; with several workers the last one to start
/// sets the same schedule. Retries while the database is not reachable yet.
/// </summary>
public sealed class UpkeepSchedule(IRecurringJobManager recurring, IOptions<JobRunnerOptions> options, ILogger<UpkeepSchedule> log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var cron = options.Value.UpkeepCron;
        var jobOptions = new RecurringJobOptions { TimeZone = TimeZoneInfo.Utc };
        for (var attempt = 1; !stoppingToken.IsCancellationRequested; attempt++)
        {
            try
            {
                recurring.AddOrUpdate<JobUpkeep>(JobUpkeep.ExpireOverdueJobsId, JobQueues.Maintenance,
                    u => u.ExpireOverdueJobsAsync(CancellationToken.None), cron, jobOptions);
                recurring.AddOrUpdate<JobUpkeep>(JobUpkeep.DeleteExpiredOutputsId, JobQueues.Maintenance,
                    u => u.DeleteExpiredOutputsAsync(CancellationToken.None), cron, jobOptions);
                log.LogInformation("Upkeep scheduled ({Cron})", cron);
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException and not ArgumentException)
            {
                log.LogWarning("Upkeep not scheduled yet (attempt {Attempt}): {Error}", attempt, ex.Message);
                await Task.Delay(TimeSpan.FromSeconds(Math.Min(30, attempt * 2)), stoppingToken);
            }
        }
    }
}
