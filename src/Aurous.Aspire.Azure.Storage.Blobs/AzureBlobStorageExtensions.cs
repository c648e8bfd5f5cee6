using Azure.Storage.Blobs;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using OpenTelemetry.Trace;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Registers a <see cref="BlobServiceClient"/> from <c>ConnectionStrings:{name}</c> (an Azure Storage connection
/// string, or a service URI with a SAS token), with a health check and the Azure SDK's spans in the trace, the way the
/// Aspire.Azure.Storage.Blobs client integration does; that package is not obtainable here.
/// </summary>
public static class AzureBlobStorageExtensions
{
    public static IHostApplicationBuilder AddAzureBlobServiceClient(this IHostApplicationBuilder builder, string connectionName)
    {
        var connectionString = builder.Configuration.GetConnectionString(connectionName)
            ?? throw new InvalidOperationException($"ConnectionStrings:{connectionName} is not set (env ConnectionStrings__{connectionName}).");
        builder.Services.AddSingleton(_ => Uri.TryCreate(connectionString, UriKind.Absolute, out var uri)
            ? new BlobServiceClient(uri)
            : new BlobServiceClient(connectionString));

        builder.Services.AddHealthChecks().Add(new HealthCheckRegistration(connectionName,
            sp => new BlobStorageHealthCheck(sp.GetRequiredService<BlobServiceClient>()), failureStatus: null, tags: null,
            timeout: TimeSpan.FromSeconds(3)));

        // The Azure SDK publishes ActivitySources only behind this switch.
        AppContext.SetSwitch("Azure.Experimental.EnableActivitySource", true);
        builder.Services.AddOpenTelemetry().WithTracing(tracing => tracing.AddSource("Azure.Storage.Blobs.*"));
        return builder;
    }

    private sealed class BlobStorageHealthCheck(BlobServiceClient client) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            try
            {
                await foreach (var _ in client.GetBlobContainersAsync(cancellationToken: cancellationToken).AsPages(pageSizeHint: 1))
                {
                    break;
                }
                return HealthCheckResult.Healthy();
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                return new HealthCheckResult(context.Registration.FailureStatus, "blob storage is unreachable", ex);
            }
        }
    }
}
