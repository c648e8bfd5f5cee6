using System.Text.Json;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;
using StackExchange.Redis;

using Aurous.Api.Extensions;

namespace Aurous.Api.Health;

internal sealed class PostgresHealthCheck(NpgsqlDataSource db) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await using var cmd = db.CreateCommand("SELECT 1");
            await cmd.ExecuteScalarAsync(cancellationToken);
            return HealthCheckResult.Healthy();
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or InvalidOperationException)
        {
            return HealthCheckResult.Unhealthy("Postgres is unreachable: " + ex.Message);
        }
    }
}

internal sealed class RedisHealthCheck(Lazy<ConnectionMultiplexer> redis) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            var latency = await redis.Value.GetDatabase().PingAsync();
            return HealthCheckResult.Healthy($"ping {latency.TotalMilliseconds:0.0} ms");
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            return HealthCheckResult.Unhealthy("Redis is unreachable: " + ex.Message);
        }
    }
}

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
            return HealthCheckResult.Degraded("inference worker is unreachable: " + ex.Message);
        }
    }
}
