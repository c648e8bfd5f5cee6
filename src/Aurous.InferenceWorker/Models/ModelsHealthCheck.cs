using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Aurous.InferenceWorker.Models;

/// <summary>
/// Readiness of the model host: unhealthy while loading or when the host failed (e.g. CUDA demanded but absent),
/// degraded when a model that should have loaded did not, healthy otherwise.
/// </summary>
internal sealed class ModelsHealthCheck(ModelHost host) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var data = new Dictionary<string, object>
        {
            ["state"] = host.State.ToString().ToLowerInvariant(),
            ["requested_provider"] = host.RequestedProvider.ToString().ToLowerInvariant(),
        };
        if (host.ExecutionProvider is { } provider)
        {
            data["execution_provider"] = provider;
        }
        var result = host.State switch
        {
            ModelHostState.Loading => HealthCheckResult.Unhealthy("models are loading", data: data),
            ModelHostState.Failed => HealthCheckResult.Unhealthy(host.FailureReason, data: data),
            _ => Ready(data),
        };
        return Task.FromResult(result);
    }

    private HealthCheckResult Ready(Dictionary<string, object> data)
    {
        var loaded = host.Models.Where(m => m.Status == HostedModelStatus.Loaded).Select(m => m.Id).ToArray();
        data["loaded_models"] = loaded;
        var faults = host.Models.Where(m => m.IsFault).ToArray();
        if (faults.Length > 0)
        {
            return HealthCheckResult.Degraded(
                string.Join("; ", faults.Select(m => $"{m.Id}: {m.Reason}")), data: data);
        }
        return HealthCheckResult.Healthy($"{loaded.Length} model(s) loaded on {host.ExecutionProvider}", data);
    }
}
