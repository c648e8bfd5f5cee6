using Aurous.Dashboard.Identity;
using Aurous.Jobs;
using Hangfire;

namespace Aurous.Dashboard.Operators;

/// <summary>
/// The operators' view of the job queues at <see cref="Path"/>: Hangfire's dashboard over the jobs' storage (queues,
/// running, retries, failures, recurring upkeep, servers), for platform operators only
/// (the Identity role <see cref="PlatformRoles.Operator"/>; anyone else signs in first or is refused).
/// </summary>
public static class JobsDashboard
{
    public const string Path = "/hangfire";

    public static WebApplicationBuilder AddJobsDashboard(this WebApplicationBuilder builder)
    {
        builder.AddJobStorage();
        return builder;
    }

    public static WebApplication MapJobsDashboard(this WebApplication app)
    {
        app.MapHangfireDashboardWithAuthorizationPolicy(PlatformRoles.OperatorPolicy, Path, new DashboardOptions
        {
            Authorization = [new OperatorDashboardAuthorization()],
            DashboardTitle = "Aurous jobs",
            AppPath = "/",
            DisplayStorageConnectionString = false,
        });
        return app;
    }
}
