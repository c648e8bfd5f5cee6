using System.Security.Claims;
using System.Text;
using Aurous.Accounts;
using Aurous.Accounts.Billing;
using Aurous.Dashboard.Identity;
using Aurous.Dashboard.Usage;
using Npgsql;

// In the builder's namespace, as the framework's own Map* extensions, so Program.cs needs no extra using.
namespace Microsoft.AspNetCore.Builder;

/// <summary>/teams/{teamId}/usage.csv: the usage page's report as a download, for the team's members only.</summary>
public static class UsageCsvEndpoint
{
    public static IEndpointRouteBuilder MapUsageCsv(this IEndpointRouteBuilder app)
    {
        // Anonymous users are challenged (sent to sign in); signed-in users who are not members get 404, as every
        // other address of a team they cannot see.
        app.MapGet("/teams/{teamId}/usage.csv", DownloadAsync)
            .RequireAuthorization()
            .WithName("DownloadUsageCsv");
        return app;
    }

    private static async Task<IResult> DownloadAsync(
        string teamId, ClaimsPrincipal user, TeamMembers members, NpgsqlDataSource db, TimeProvider clock, CancellationToken ct)
    {
        var userId = TeamAccess.UserId(user);
        var membership = userId is null ? null : await members.GetMembershipAsync(userId, teamId, ct);
        if (membership is null)
        {
            return TypedResults.NotFound();
        }
        var report = await new UsageReports(db, clock).LastDaysAsync(membership.TeamId, ct);
        var name = $"usage-{membership.TeamId}-{report.From:yyyy-MM-dd}-{report.To:yyyy-MM-dd}.csv";
        return TypedResults.File(Encoding.UTF8.GetBytes(UsageCsv.Write(report)), "text/csv; charset=utf-8", name);
    }
}
