using Microsoft.Extensions.Diagnostics.HealthChecks;

using Aurous.Api.Extensions;

namespace Aurous.Api.Health;

/// <summary>Reports the InferenceWorker's own health and what it runs on. A down worker degrades the API (it still
/// serves keys, balance and models) rather than taking it out of rotation.</summary>
internal sealed class InferenceWorkerHealthCheck(IHttpClientFactory http) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            using var client = http.CreateClient(ApiServiceExtensions.InferenceWorkerClient);
            using var response = await client.GetAsync("/health", cancellationToken);
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            var data = new Dictionary<string, object> { ["status_code"] = (int)response.StatusCode };
            try
            {
                data["worker"] = JsonSerializer.Deserialize<JsonElement>(body);
            }
            catch (JsonException)
            {
                data["worker"] = body;
            }
            return response.IsSuccessStatusCode
                ? HealthCheckResult.Healthy("inference worker is healthy", data)
                : HealthCheckResult.Degraded($"inference worker answered {(int)response.StatusCode}", data: data);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or InvalidOperationException)
        {
            return HealthCheckResult.Degraded("inference worker is unreachable", ex);
        }
    }
}
