using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Aurous.AppHost;

/// <summary>
/// A data store run from a script under eng/ that is also the connection string its clients reference (the shape of
/// Aspire's own PostgresServerResource, as an executable because there is no container engine here).
/// </summary>
internal sealed class LocalServerResource(string name, string script, string workingDirectory, Func<EndpointReference, ReferenceExpression> connectionString)
    : ExecutableResource(name, script, workingDirectory), IResourceWithConnectionString
{
    public EndpointReference Endpoint => new(this, "tcp");

    public ReferenceExpression ConnectionStringExpression => connectionString(Endpoint);
}

/// <summary>
/// Postgres, Redis and Azurite for a local run: each an <see cref="LocalServerResource"/> with an endpoint, a health
/// check and its data under the state folder. Published, each is a connection string supplied at deploy time.
/// </summary>
internal static class LocalStores
{
    // The public, documented development-storage account of the Azure emulators.
    private const string AzuriteAccount = "devstoreaccount1";
    private const string AzuriteKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    public static IResourceBuilder<IResourceWithConnectionString> AddLocalPostgres(this IDistributedApplicationBuilder builder, string name, LocalState local, int port)
    {
        if (!local.IsRunMode)
        {
            return builder.AddConnectionString(name);
        }
        var password = builder.AddParameter($"{name}-password", () => local.Secret($"{name}-password"), secret: true);
        return builder.AddLocalServer(name, local, "postgres.sh", port, portVariable: "PGPORT",
                ep => ReferenceExpression.Create($"Host=127.0.0.1;Port={ep.Property(EndpointProperty.Port)};Username=postgres;Password={password};Database=aurous"),
                (cs, ct) => ServerProbes.PostgresAsync(cs, ct))
            .WithEnvironment("POSTGRES_PASSWORD", password)
            .WithEnvironment("POSTGRES_DB", "aurous")
            .WithEnvironment("AUROUS_POSTGRES_DATA", local.PostgresDataDirectory);
    }

    public static IResourceBuilder<IResourceWithConnectionString> AddLocalRedis(this IDistributedApplicationBuilder builder, string name, LocalState local, int port)
    {
        if (!local.IsRunMode)
        {
            return builder.AddConnectionString(name);
        }
        var password = builder.AddParameter($"{name}-password", () => local.Secret($"{name}-password"), secret: true);
        return builder.AddLocalServer(name, local, "redis.sh", port, portVariable: "REDIS_PORT",
                ep => ReferenceExpression.Create($"127.0.0.1:{ep.Property(EndpointProperty.Port)},password={password}"),
                (cs, ct) => ServerProbes.RedisAsync(cs, ct))
            .WithEnvironment("REDIS_PASSWORD", password)
            .WithEnvironment("AUROUS_REDIS_DATA", local.StatePath("redis"));
    }

    public static IResourceBuilder<IResourceWithConnectionString> AddLocalAzurite(this IDistributedApplicationBuilder builder, string name, LocalState local, int port)
    {
        if (!local.IsRunMode)
        {
            return builder.AddConnectionString(name);
        }
        return builder.AddLocalServer(name, local, "azurite.sh", port, portVariable: "AZURITE_PORT",
                ep => ReferenceExpression.Create(
                    $"DefaultEndpointsProtocol=http;AccountName={AzuriteAccount};AccountKey={AzuriteKey};BlobEndpoint=http://127.0.0.1:{ep.Property(EndpointProperty.Port)}/{AzuriteAccount};"),
                (cs, ct) => ServerProbes.AzuriteAsync(cs, ct))
            .WithEnvironment("AUROUS_AZURITE_DATA", local.StatePath("azurite"));
    }

    /// <summary>References a store and waits until it is healthy (in publish mode only the reference remains).</summary>
    public static IResourceBuilder<T> WithStore<T>(this IResourceBuilder<T> builder, IResourceBuilder<IResourceWithConnectionString> store)
        where T : IResourceWithEnvironment, IResourceWithWaitSupport
    {
        builder.WithReference(store);
        return store.Resource is LocalServerResource ? builder.WaitFor(store) : builder;
    }

    private static IResourceBuilder<LocalServerResource> AddLocalServer(this IDistributedApplicationBuilder builder, string name, LocalState local,
        string script, int port, string portVariable, Func<EndpointReference, ReferenceExpression> connectionString,
        Func<string, CancellationToken, Task<bool>> probe)
    {
        var resource = new LocalServerResource(name, Path.Combine(local.Scripts, script), local.RepoRoot, connectionString);
        var healthKey = $"{name}-ready";
        builder.Services.AddHealthChecks().Add(new HealthCheckRegistration(healthKey,
            _ => new ServerProbeHealthCheck(resource, probe), failureStatus: null, tags: null, timeout: TimeSpan.FromSeconds(5)));
        return builder.AddResource(resource)
            .WithEndpoint(port: local.Port(port), name: "tcp", scheme: "tcp", env: portVariable, isProxied: false)
            .WithHealthCheck(healthKey)
            .ExcludeFromManifest();
    }

    private sealed class ServerProbeHealthCheck(LocalServerResource resource, Func<string, CancellationToken, Task<bool>> probe) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            try
            {
                var connectionString = await ((IResourceWithConnectionString)resource).GetConnectionStringAsync(cancellationToken)
                    ?? throw new InvalidOperationException("no connection string yet");
                return await probe(connectionString, cancellationToken)
                    ? HealthCheckResult.Healthy()
                    : HealthCheckResult.Unhealthy("not answering yet");
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                return HealthCheckResult.Unhealthy(ex.Message);
            }
        }
    }
}
