using Aurous.Accounts;
using Microsoft.AspNetCore.Identity;

namespace Aurous.Dashboard.Identity;

/// <summary>Section <c>Seed</c>: an account made (or brought up to date) when the dashboard starts.</summary>
public sealed class AccountSeedOptions
{
    public const string Section = "Seed";

    public string? Email { get; set; }
    public string? Password { get; set; }

    /// <summary>A team the account owns (found by name, or created without credits).</summary>
    public string? TeamName { get; set; }

    /// <summary>Whether the account is a platform operator.</summary>
    public bool Operator { get; set; }
}

/// <summary>
/// Seeds the configured account at start-up, before the dashboard answers: the user with that password, the operator
/// role, and ownership of the team. Running it again changes nothing (or resets the password to the configured one).
/// </summary>
public sealed class AccountSeeder(IServiceScopeFactory scopes, IConfiguration configuration, ILogger<AccountSeeder> log) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var options = configuration.GetSection(AccountSeedOptions.Section).Get<AccountSeedOptions>() ?? new AccountSeedOptions();
        await using var scope = scopes.CreateAsyncScope();
        var roles = scope.ServiceProvider.GetRequiredService<RoleManager<IdentityRole>>();
        if (!await roles.RoleExistsAsync(PlatformRoles.Operator))
        {
            Check(await roles.CreateAsync(new IdentityRole(PlatformRoles.Operator)), "create the operator role");
        }
        if (string.IsNullOrWhiteSpace(options.Email) || string.IsNullOrEmpty(options.Password))
        {
            return;
        }
        var users = scope.ServiceProvider.GetRequiredService<UserManager<IdentityUser>>();
        var user = await users.FindByEmailAsync(options.Email);
        if (user is null)
        {
            user = new IdentityUser { UserName = options.Email, Email = options.Email, EmailConfirmed = true };
            Check(await users.CreateAsync(user, options.Password), $"create {options.Email}");
            log.LogInformation("Seeded the dashboard account {Email}", options.Email);
        }
        else if (!await users.CheckPasswordAsync(user, options.Password))
        {
            var token = await users.GeneratePasswordResetTokenAsync(user);
            Check(await users.ResetPasswordAsync(user, token, options.Password), $"reset the password of {options.Email}");
            await users.SetLockoutEndDateAsync(user, null);
        }
        if (options.Operator && !await users.IsInRoleAsync(user, PlatformRoles.Operator))
        {
            Check(await users.AddToRoleAsync(user, PlatformRoles.Operator), $"make {options.Email} an operator");
        }
        if (!string.IsNullOrWhiteSpace(options.TeamName))
        {
            var teams = scope.ServiceProvider.GetRequiredService<TeamStore>();
            var members = scope.ServiceProvider.GetRequiredService<TeamMembers>();
            var teamId = await teams.FindByNameAsync(options.TeamName, cancellationToken);
            if (teamId is null)
            {
                await members.CreateTeamAsync(options.TeamName, user.Id, cancellationToken);
            }
            else
            {
                await members.AddAsync(teamId, user.Id, TeamRole.Owner, cancellationToken);
            }
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private static void Check(IdentityResult result, string what)
    {
        if (!result.Succeeded)
        {
            throw new InvalidOperationException($"Could not {what}: {string.Join(" ", result.Errors.Select(e => e.Description))}");
        }
    }
}

public static class AccountSeedHosting
{
    public static WebApplicationBuilder AddAccountSeed(this WebApplicationBuilder builder)
    {
        builder.Services.AddHostedService<AccountSeeder>();
        return builder;
    }
}
