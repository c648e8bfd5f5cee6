using System.Security.Claims;
using Aurous.Accounts;
using Dapper;
using Microsoft.AspNetCore.Components.Authorization;
using Npgsql;

namespace Aurous.Dashboard.Components.Shared;

/// <summary>
/// For interactive components, which get no cascading membership: re-reads the signed-in user from the circuit and
/// their membership of a team from the database, every time it is asked (a role can change while a page is open).
/// </summary>
public sealed class CurrentMembership(AuthenticationStateProvider authentication, NpgsqlDataSource db)
{
    /// <summary>The user's membership of <paramref name="teamId"/>, or null (anonymous, or not a member).</summary>
    public async Task<TeamMembership?> MembershipAsync(string teamId, CancellationToken ct = default)
    {
        var user = (await authentication.GetAuthenticationStateAsync()).User;
        if (user.Identity?.IsAuthenticated != true || user.FindFirstValue(ClaimTypes.NameIdentifier) is not { } userId)
        {
            return null;
        }
        await using var conn = await db.OpenConnectionAsync(ct);
        var row = await conn.QuerySingleOrDefaultAsync<(string Name, string Role)?>(new CommandDefinition("""
            SELECT t.name, m.role FROM team_members m JOIN teams t ON t.id = m.team_id
            WHERE m.team_id = @teamId AND m.user_id = @userId
            """, new { teamId, userId }, cancellationToken: ct));
        return row is { } r ? new TeamMembership(teamId, r.Name, userId, TeamMembership.ParseRole(r.Role)) : null;
    }
}
