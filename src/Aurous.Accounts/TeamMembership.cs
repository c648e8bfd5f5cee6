namespace Aurous.Accounts;

/// <summary>A member's role in a team. Owners and admins manage keys, webhooks, invitations and settings; members read.</summary>
public enum TeamRole { Member = 0, Admin = 1, Owner = 2 }

/// <summary>The signed-in user's membership of the team a dashboard page is about.</summary>
public sealed record TeamMembership(string TeamId, string TeamName, string UserId, TeamRole Role)
{
    public bool CanManage => Role >= TeamRole.Admin;

    public static string RoleName(TeamRole role) => role.ToString().ToLowerInvariant();

    public static TeamRole ParseRole(string role) => Enum.Parse<TeamRole>(role, ignoreCase: true);
}
