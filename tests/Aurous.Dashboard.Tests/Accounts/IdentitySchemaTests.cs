using System.Security.Claims;
using System.Text.RegularExpressions;
using Aurous.Dashboard.Identity;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Aurous.Dashboard.Tests.Accounts;

/// <summary>The migration 0009_identity.sql and the dashboard's Identity model describe the same tables.</summary>
[Collection(DashboardCollection.Name)]
public sealed partial class IdentitySchemaTests(DashboardSystem fixture)
{
    [Fact]
    public void The_migration_creates_exactly_what_the_model_maps()
    {
        var options = new DbContextOptionsBuilder<AccountsDbContext>().UseNpgsql("Host=unused").Options;
        using var db = new AccountsDbContext(options);
        var model = Creates(db.Database.GenerateCreateScript());
        var migration = Creates(File.ReadAllText(Path.Combine(fixture.System.Settings.RepoRoot, "src", "Aurous.Persistence", "Migrations", "0009_identity.sql")));
        model.Count.ShouldBe(14); // seven tables, seven indexes
        migration.ShouldBe(model, ignoreOrder: true);
    }

    [Fact]
    public async Task A_user_with_every_field_roles_claims_logins_and_tokens_round_trips_through_the_migrated_schema()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddDbContext<AccountsDbContext>(o => o.UseNpgsql(fixture.System.ConnectionString("postgres")));
        services.AddIdentityCore<IdentityUser>(DashboardAccounts.ConfigureIdentity).AddRoles<IdentityRole>().AddEntityFrameworkStores<AccountsDbContext>();
        await using var provider = services.BuildServiceProvider();
        await using var scope = provider.CreateAsyncScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<IdentityUser>>();
        var roles = scope.ServiceProvider.GetRequiredService<RoleManager<IdentityRole>>();

        var email = FormBrowser.NewEmail("schema");
        var user = new IdentityUser
        {
            UserName = email, Email = email, EmailConfirmed = true, PhoneNumber = "+4912345", PhoneNumberConfirmed = true,
            TwoFactorEnabled = true, LockoutEnabled = true, LockoutEnd = DateTimeOffset.UtcNow.AddMinutes(5), AccessFailedCount = 2,
        };
        (await users.CreateAsync(user, FormBrowser.Password)).Succeeded.ShouldBeTrue();
        var roleName = "schema-test-" + Guid.NewGuid().ToString("N")[..8];
        var role = new IdentityRole(roleName);
        (await roles.CreateAsync(role)).Succeeded.ShouldBeTrue();
        (await roles.AddClaimAsync(role, new Claim("scope", "all"))).Succeeded.ShouldBeTrue();
        (await users.AddToRoleAsync(user, roleName)).Succeeded.ShouldBeTrue();
        (await users.AddClaimAsync(user, new Claim("team", "team_1"))).Succeeded.ShouldBeTrue();
        (await users.AddLoginAsync(user, new UserLoginInfo("example", "key-" + user.Id, "Example"))).Succeeded.ShouldBeTrue();
        (await users.SetAuthenticationTokenAsync(user, "example", "refresh", "token-value")).Succeeded.ShouldBeTrue();

        await using var fresh = provider.CreateAsyncScope();
        var again = fresh.ServiceProvider.GetRequiredService<UserManager<IdentityUser>>();
        var read = (await again.FindByEmailAsync(email))!;
        read.PhoneNumber.ShouldBe("+4912345");
        read.TwoFactorEnabled.ShouldBeTrue();
        read.AccessFailedCount.ShouldBe(2);
        read.LockoutEnd!.Value.ShouldBe(user.LockoutEnd!.Value, TimeSpan.FromMilliseconds(1));
        (await again.CheckPasswordAsync(read, FormBrowser.Password)).ShouldBeTrue();
        (await again.GetRolesAsync(read)).ShouldBe([roleName]);
        (await again.GetClaimsAsync(read)).ShouldContain(c => c.Type == "team" && c.Value == "team_1");
        (await again.GetLoginsAsync(read)).Single().ProviderDisplayName.ShouldBe("Example");
        (await again.GetAuthenticationTokenAsync(read, "example", "refresh")).ShouldBe("token-value");
        (await fresh.ServiceProvider.GetRequiredService<RoleManager<IdentityRole>>().GetClaimsAsync((await fresh.ServiceProvider
            .GetRequiredService<RoleManager<IdentityRole>>().FindByNameAsync(roleName))!)).ShouldContain(c => c.Type == "scope");
    }

    /// <summary>The CREATE TABLE and CREATE INDEX statements, with comments and layout removed, so that only their meaning is compared.</summary>
    private static List<string> Creates(string sql) =>
        [.. Comments().Replace(sql, "").Split(';').Select(s => Space().Replace(s, " ").Trim())
            .Where(s => s.StartsWith("CREATE TABLE", StringComparison.Ordinal) || s.StartsWith("CREATE INDEX", StringComparison.Ordinal)
                || s.StartsWith("CREATE UNIQUE INDEX", StringComparison.Ordinal))];

    [GeneratedRegex("--[^\n]*")]
    private static partial Regex Comments();

    [GeneratedRegex("\\s+")]
    private static partial Regex Space();
}
