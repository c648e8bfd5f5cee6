using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Npgsql;

namespace Aurous.Accounts;

public static class AccountsServiceCollectionExtensions
{
    /// <summary>
    /// Teams, members, invitations, API keys and the ledger over the "postgres" database. A service that registered its
    /// own <see cref="NpgsqlDataSource"/> (with telemetry and health checks) before this keeps it.
    /// </summary>
    public static IHostApplicationBuilder AddAccountStores(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.TryAddSingleton(_ => NpgsqlDataSource.Create(builder.Configuration.GetConnectionString("postgres")
            ?? throw new InvalidOperationException("ConnectionStrings:postgres is not set (env ConnectionStrings__postgres).")));
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<TeamStore>();
        services.TryAddSingleton<ApiKeyStore>();
        services.TryAddSingleton<Ledger>();
        services.TryAddSingleton<TeamMembers>();
        services.TryAddSingleton<Invitations>();
        return builder;
    }
}
