using Aspire.Hosting.ApplicationModel;

namespace Aurous.AppHost;

/// <summary>
/// The account the dashboard seeds at start-up. Locally: the development user (owner of the development team and a
/// platform operator) with a password kept in the state folder, printed in the banner and written to dev.env.
/// Published: an operator account from the parameters <c>operator-email</c> and <c>operator-password</c>.
/// </summary>
internal static class DashboardAccount
{
    public const string DevelopmentEmail = "dev@aurous.local";
    public const string DevelopmentTeamName = "Development team"; // DevelopmentTeamSeeder.TeamName, seeded by the schema step

    public static string DevelopmentPassword(LocalState local) => local.Secret("dashboard-password");

    public static IResourceBuilder<ProjectResource> WithSeededAccount(this IResourceBuilder<ProjectResource> dashboard,
        IDistributedApplicationBuilder builder, LocalState local)
    {
        if (local.IsRunMode)
        {
            return dashboard
                .WithEnvironment("Seed__Email", DevelopmentEmail)
                .WithEnvironment("Seed__Password", DevelopmentPassword(local))
                .WithEnvironment("Seed__TeamName", DevelopmentTeamName)
                .WithEnvironment("Seed__Operator", "true");
        }
        var email = builder.AddParameter("operator-email");
        var password = builder.AddParameter("operator-password", secret: true);
        return dashboard
            .WithEnvironment("Seed__Email", email)
            .WithEnvironment("Seed__Password", password)
            .WithEnvironment("Seed__Operator", "true");
    }
}
