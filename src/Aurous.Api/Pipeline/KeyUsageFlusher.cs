using Aurous.Accounts;
using Microsoft.Extensions.Options;

namespace Aurous.Api.Pipeline;

public sealed class KeyUsageOptions
{
    /// <summary>How often the keys used since the last flush are written to api_key_usage (one statement each time).</summary>
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>Writes the keys <see cref="ApiKeyAuthentication"/> saw in use every <see cref="KeyUsageOptions.FlushInterval"/>
/// and once more when the instance stops, so "last used" lags by at most one interval.</summary>
public sealed class KeyUsageFlusher(KeyUsageRecorder usage, IOptions<KeyUsageOptions> options, ILogger<KeyUsageFlusher> log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.FlushInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                await FlushAsync(stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        await FlushAsync(cancellationToken);
    }

    private async Task FlushAsync(CancellationToken ct)
    {
        try
        {
            await usage.FlushAsync(ct);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            log.LogWarning(e, "Could not record API key usage; {Pending} keys are kept for the next attempt.", usage.PendingCount);
        }
    }
}
