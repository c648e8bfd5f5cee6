using Aurous.Accounts;
using Microsoft.AspNetCore.Components;

namespace Aurous.Dashboard.Components.Pages.Members;

/// <summary>
/// The team's members and invitations. Every change is checked against the signed-in user's membership, resolved on
/// the server for this request (the cascaded <see cref="Team"/>), never against a form field.
/// </summary>
public partial class MembersPage
{
    [Parameter] public string TeamId { get; set; } = "";
    [CascadingParameter] public TeamMembership Team { get; set; } = null!;
    [SupplyParameterFromQuery(Name = "remove")] public string? RemoveUserId { get; set; }

    [SupplyParameterFromForm(FormName = "create-invitation")] private InviteForm Invite { get; set; } = default!;
    // One form per row (form names are unique on a page): these bind whichever row's form was posted.
    [SupplyParameterFromForm] private ChangeForm Change { get; set; } = default!;
    [SupplyParameterFromForm(FormName = "remove-member")] private RemoveForm Remove { get; set; } = default!;
    [SupplyParameterFromForm] private RevokeForm Revoke { get; set; } = default!;

    private IReadOnlyList<TeamMember> _members = [];
    private IReadOnlyList<PendingInvitation> _pending = [];
    private TeamMember? _confirmRemove;
    private string? _link;
    private string? _status;
    private string? _error;

    private IEnumerable<TeamRole> AssignableRoles =>
        Team.Role == TeamRole.Owner ? [TeamRole.Member, TeamRole.Admin, TeamRole.Owner] : [TeamRole.Member, TeamRole.Admin];

    protected override async Task OnInitializedAsync()
    {
        Invite ??= new();
        Change ??= new();
        Remove ??= new();
        Revoke ??= new();
        await LoadAsync();
        if (RemoveUserId is not null && Team.CanManage)
        {
            _confirmRemove = _members.FirstOrDefault(m => m.UserId == RemoveUserId);
        }
    }

    private async Task LoadAsync()
    {
        _members = await Members.ListMembersAsync(Team.TeamId);
        _pending = Team.CanManage ? await Invitations.ListPendingAsync(Team.TeamId) : [];
    }

    private bool Refuse()
    {
        if (Team.CanManage)
        {
            return false;
        }
        _error = "Only the team's owners and admins can manage members.";
        return true;
    }

    private async Task CreateInvitationAsync()
    {
        if (Refuse())
        {
            return;
        }
        if (Invite.Role is not ("member" or "admin"))
        {
            _error = "Choose admin or member.";
            return;
        }
        var email = string.IsNullOrWhiteSpace(Invite.Email) ? null : Invite.Email.Trim();
        if (email is { Length: > 256 } || (email is not null && !email.Contains('@', StringComparison.Ordinal)))
        {
            _error = "Enter a valid email address, or leave it empty.";
            return;
        }
        var invitation = await Invitations.CreateAsync(Team.TeamId, TeamMembership.ParseRole(Invite.Role), email, Team.UserId);
        _link = Navigation.ToAbsoluteUri($"/invitations/{invitation.Token}").ToString();
        _status = "Invitation link created. It works once, for 7 days.";
        await LoadAsync();
    }

    private async Task ChangeRoleAsync()
    {
        if (Refuse())
        {
            return;
        }
        if (!Enum.TryParse<TeamRole>(Change.Role, ignoreCase: true, out var role) || !Enum.IsDefined(role))
        {
            _error = "Choose owner, admin or member.";
            return;
        }
        Report(await Members.ChangeRoleAsync(Team, Change.UserId ?? "", role), "Role changed.");
        await LoadAsync();
    }

    private async Task RemoveAsync()
    {
        if (Refuse())
        {
            return;
        }
        Report(await Members.RemoveAsync(Team, Remove.UserId ?? ""), "Member removed.");
        _confirmRemove = null;
        await LoadAsync();
    }

    private async Task RevokeInvitationAsync()
    {
        if (Refuse())
        {
            return;
        }
        if (await Invitations.RevokeAsync(Team.TeamId, Revoke.InvitationId ?? ""))
        {
            _status = "Invitation revoked.";
        }
        else
        {
            _error = "That invitation is no longer pending.";
        }
        await LoadAsync();
    }

    private void Report(MemberChangeOutcome outcome, string done)
    {
        switch (outcome)
        {
            case MemberChangeOutcome.Done:
                _status = done;
                break;
            case MemberChangeOutcome.LastOwner:
                _error = "A team needs at least one owner: make someone else an owner first.";
                break;
            case MemberChangeOutcome.NotAllowed:
                _error = "Only an owner can change or remove owners, or make someone an owner.";
                break;
            default:
                _error = "That person is not a member of this team.";
                break;
        }
    }

    private sealed class InviteForm
    {
        public string? Role { get; set; } = "member";
        public string? Email { get; set; }
    }

    private sealed class ChangeForm
    {
        public string? UserId { get; set; }
        public string? Role { get; set; }
    }

    private sealed class RemoveForm
    {
        public string? UserId { get; set; }
    }

    private sealed class RevokeForm
    {
        public string? InvitationId { get; set; }
    }
}
