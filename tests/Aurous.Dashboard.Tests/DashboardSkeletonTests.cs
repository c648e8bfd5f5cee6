using Aurous.Accounts;

namespace Aurous.Dashboard.Tests;

public sealed class TeamRoleTests
{
    [Fact]
    public void Owners_and_admins_manage_and_members_only_read()
    {
        new TeamMembership("team_a", "A", "u1", TeamRole.Owner).CanManage.ShouldBeTrue();
        new TeamMembership("team_a", "A", "u1", TeamRole.Admin).CanManage.ShouldBeTrue();
        new TeamMembership("team_a", "A", "u1", TeamRole.Member).CanManage.ShouldBeFalse();
    }
}
