using System.Security.Claims;
using Aurous.Accounts;
using Microsoft.AspNetCore.Components.Authorization;

namespace Aurous.Dashboard.Identity;

/// <summary>Raised when the signed-in user may not make a change to a team (not a member, or a member who cannot manage).</summary>
public sealed class TeamAccessDeniedException(string message) : Exception(message);

/// <summary>
/// The signed-in user's membership of a team, read afresh from the sign-in and the database. Interactive components
/// call it before every change instead of trusting a parameter.
/// </summary>
public sealed class TeamAccess(AuthenticationStateProvider authentication, TeamMembers members)
{
    /// <summary>The current user's id, or null when nobody is signed in.</summary>
    public async Task<string?> GetUserIdAsync()
    {
        var state = await authentication.GetAuthenticationStateAsync();
        return UserId(state.User);
    }

    /// <summary>The signed-in user's membership of <paramref name="teamId"/>, or null (anonymous or not a member).</summary>
    public async Task<TeamMembership?> GetAsync(string teamId, CancellationToken ct = default)
    {
        var userId = await GetUserIdAsync();
        return userId is null ? null : await members.GetMembershipAsync(userId, teamId, ct);
    }

    /// <summary>The membership if the user may manage the team (owner or admin); throws <see cref="TeamAccessDeniedException"/> otherwise.</summary>
    public async Task<TeamMembership> RequireManagerAsync(string teamId, CancellationToken ct = default)
    {
        var membership = await GetAsync(teamId, ct);
        return membership is { CanManage: true } ? membership
            : throw new TeamAccessDeniedException("Only the team's owners and admins can do that.");
    }

    /// <summary>The membership if the user is a member (any role); throws <see cref="TeamAccessDeniedException"/> otherwise.</summary>
    public async Task<TeamMembership> RequireMemberAsync(string teamId, CancellationToken ct = default) =>
        await GetAsync(teamId, ct) ?? throw new TeamAccessDeniedException("Not found.");

    public static string? UserId(ClaimsPrincipal user) =>
        user.Identity?.IsAuthenticated == true ? user.FindFirstValue(ClaimTypes.NameIdentifier) : null;
}
