using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Aurous.Persistence;

public static class DatabaseExtensions
{
    /// <summary>Registers one pooled <see cref="NpgsqlDataSource"/> from <c>ConnectionStrings:postgres</c> (Npgsql.DependencyInjection is not obtainable).</summary>
    public static IServiceCollection AddAurousDatabase(this IServiceCollection services, IConfiguration configuration)
    {
        var cs = configuration.GetConnectionString("postgres")
            ?? throw new InvalidOperationException("ConnectionStrings:postgres is not set (env ConnectionStrings__postgres).");
        services.AddSingleton(_ => new NpgsqlDataSourceBuilder(cs) { Name = "aurous" }.Build());
        return services;
    }
}
