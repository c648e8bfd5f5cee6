namespace Aurous.InferenceWorker.Models;

/// <summary>
/// Loads the models once, in the background, so the process answers <c>/alive</c> at once while <c>/health</c> reports
/// "loading" until the sessions are ready (the AppHost waits on /health).
/// </summary>
internal sealed class ModelHostLoader(ModelHost host) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.Run(() => host.Load(stoppingToken), stoppingToken);
}
