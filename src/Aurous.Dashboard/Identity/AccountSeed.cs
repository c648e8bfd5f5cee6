using Aurous.Accounts;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;

namespace Aurous.Dashboard.Identity;

/// <summary>
/// Seeds the configured account at start-up, before the dashboard answers: the user with that password, the operator
/// role, and ownership of the team. Running it again changes nothing (or resets the password to the configured one).
/// </summary>
public sealed class AccountSeeder(IServiceScopeFactory scopes, IOptions<AccountSeedOptions> seed, ILogger<AccountSeeder> log) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var options = seed.Value;
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
        // Half a seed is a mistake, not a choice: the dashboard would start without the account the operator expects.
        builder.Services.AddOptions<AccountSeedOptions>().BindConfiguration(AccountSeedOptions.Section)
            .Validate(o => string.IsNullOrWhiteSpace(o.Email) == string.IsNullOrEmpty(o.Password),
                $"{AccountSeedOptions.Section}:Email and {AccountSeedOptions.Section}:Password are set together, or neither.")
            .ValidateOnStart();
        builder.Services.AddHostedService<AccountSeeder>();
        return builder;
    }
}
