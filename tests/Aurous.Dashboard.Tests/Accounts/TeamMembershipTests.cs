using System.Net;
using System.Text.RegularExpressions;
using Npgsql;

namespace Aurous.Dashboard.Tests.Accounts;

/// <summary>Teams and their members over real HTTP: isolation between teams, invitations, roles and the last owner.</summary>
[Collection(DashboardCollection.Name)]
public sealed partial class TeamMembershipTests(DashboardSystem fixture)
{
    private NpgsqlDataSource Database => fixture.System.Database;

    [Fact]
    public async Task A_non_member_gets_not_found_for_every_page_of_another_team()
    {
        using var alice = new FormBrowser(fixture.DashboardUrl, FormBrowser.Address(20));
        var aliceName = "Alice team " + Guid.NewGuid().ToString("N")[..8];
        var aliceTeam = await alice.SignUpAsync(FormBrowser.NewEmail("alice"), FormBrowser.Password, aliceName);
        using var mallory = new FormBrowser(fixture.DashboardUrl, FormBrowser.Address(20));
        var malloryTeam = await mallory.SignUpAsync(FormBrowser.NewEmail("mallory"), FormBrowser.Password, "Mallory team");

        foreach (var page in new[] { "", "/members", "/keys", "/billing", "/usage", "/webhooks", "/jobs", "/settings", "/no-such-page" })
        {
            var (response, html) = await mallory.GetPageAsync($"/teams/{aliceTeam}{page}");
            response.StatusCode.ShouldBe(HttpStatusCode.NotFound, $"/teams/{{alice}}{page}");
            html.ShouldNotContain(aliceName);
        }
        var (own, ownHtml) = await mallory.GetPageAsync($"/teams/{malloryTeam}/members");
        own.StatusCode.ShouldBe(HttpStatusCode.OK);
        ownHtml.ShouldContain("<h1>Members</h1>");

        // A forged post to the other team's members page changes nothing.
        using var forged = await mallory.ForgeAsync($"/teams/{aliceTeam}/members", "create-invitation",
            new Dictionary<string, string> { ["Invite.Role"] = "admin" });
        forged.StatusCode.ShouldNotBe(HttpStatusCode.OK);
        (await forged.Content.ReadAsStringAsync()).ShouldNotContain("invitation-link");
        await using var count = Database.CreateCommand("SELECT count(*) FROM team_invitations WHERE team_id = @t");
        count.Parameters.AddWithValue("t", aliceTeam);
        (await count.ExecuteScalarAsync()).ShouldBe(0L);

        // Anonymous visitors are sent to sign in first.
        using var anonymous = new FormBrowser(fixture.DashboardUrl);
        using var redirect = await anonymous.GetAsync($"/teams/{aliceTeam}/members");
        redirect.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        FormBrowser.PathOf(redirect).ShouldContain($"/account/sign-in?returnUrl=%2Fteams%2F{aliceTeam}%2Fmembers");
    }

    [Fact]
    public async Task An_invitation_is_accepted_once_even_by_two_people_at_the_same_moment()
    {
        using var owner = new FormBrowser(fixture.DashboardUrl, FormBrowser.Address(21));
        var team = await owner.SignUpAsync(FormBrowser.NewEmail("owner"), FormBrowser.Password, "Invite team");
        var token = await CreateInvitationAsync(owner, team, "member");
        var unused = await CreateInvitationAsync(owner, team, "admin"); // two pending rows, each with its own form
        unused.ShouldNotBe(token);

        var guests = new List<FormBrowser>();
        for (var i = 0; i < 2; i++)
        {
            var guest = new FormBrowser(fixture.DashboardUrl, FormBrowser.Address(22));
            await guest.SignUpAsync(FormBrowser.NewEmail("guest" + i), FormBrowser.Password, "Guest team " + i);
            var (page, html) = await guest.GetPageAsync($"/invitations/{token}");
            page.StatusCode.ShouldBe(HttpStatusCode.OK);
            html.ShouldContain("Invite team");
            guests.Add(guest);
        }
        // Both load the invitation's form first, then both accept at once.
        var posts = await Task.WhenAll(guests.Select(g => g.PrepareSubmitAsync($"/invitations/{token}", "accept-invitation", new Dictionary<string, string>())));
        var accepts = await Task.WhenAll(posts.Select(post => post()));
        accepts.Count(r => r.StatusCode == HttpStatusCode.Redirect && FormBrowser.PathOf(r) == $"/teams/{team}").ShouldBe(1);
        (await MemberCountAsync(team)).ShouldBe(2L); // the owner and exactly one guest

        var (again, againHtml) = await guests[0].GetPageAsync($"/invitations/{token}");
        again.StatusCode.ShouldBe(HttpStatusCode.OK);
        againHtml.ShouldContain("This invitation is no longer valid");
        foreach (var guest in guests)
        {
            guest.Dispose();
        }
    }

    [Fact]
    public async Task An_invitation_expires_after_seven_days()
    {
        using var owner = new FormBrowser(fixture.DashboardUrl, FormBrowser.Address(23));
        var team = await owner.SignUpAsync(FormBrowser.NewEmail("owner"), FormBrowser.Password, "Expiring team");
        var token = await CreateInvitationAsync(owner, team, "admin");

        // Every service's clock moves together, so the rest of the system sees the same moment.
        await fixture.System.AdvanceClockAsync(TimeSpan.FromDays(7) + TimeSpan.FromMinutes(1));

        using var guest = new FormBrowser(fixture.DashboardUrl, FormBrowser.Address(23));
        await guest.SignUpAsync(FormBrowser.NewEmail("late"), FormBrowser.Password, "Late team");
        var (page, html) = await guest.GetPageAsync($"/invitations/{token}");
        page.StatusCode.ShouldBe(HttpStatusCode.OK);
        html.ShouldContain("This invitation is no longer valid");
        html.ShouldNotContain("Accept invitation");
        (await MemberCountAsync(team)).ShouldBe(1L);
    }

    [Fact]
    public async Task The_last_owner_cannot_be_removed_or_demoted_and_a_member_cannot_manage()
    {
        var ownerEmail = FormBrowser.NewEmail("owner");
        using var owner = new FormBrowser(fixture.DashboardUrl, FormBrowser.Address(24));
        var team = await owner.SignUpAsync(ownerEmail, FormBrowser.Password, "Owner team");
        var ownerId = await UserIdAsync(ownerEmail);

        var removed = await owner.SubmitForPageAsync($"/teams/{team}/members?remove={ownerId}", "remove-member",
            new Dictionary<string, string> { ["Remove.UserId"] = ownerId });
        removed.ShouldContain("role=\"alert\"");
        removed.ShouldContain("at least one owner");
        var demoted = await owner.SubmitForPageAsync($"/teams/{team}/members", $"change-role-{ownerId}",
            new Dictionary<string, string> { ["Change.UserId"] = ownerId, ["Change.Role"] = "member" });
        demoted.ShouldContain("at least one owner");
        (await RoleAsync(team, ownerId)).ShouldBe("owner");

        // A member sees no manage controls, and a forged post is refused.
        var token = await CreateInvitationAsync(owner, team, "member");
        var memberEmail = FormBrowser.NewEmail("member");
        using var member = new FormBrowser(fixture.DashboardUrl, FormBrowser.Address(24));
        await member.SignUpAsync(memberEmail, FormBrowser.Password, "Member own team");
        using (var accepted = await member.SubmitAsync($"/invitations/{token}", "accept-invitation", new Dictionary<string, string>()))
        {
            accepted.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        }
        var (page, html) = await member.GetPageAsync($"/teams/{team}/members");
        page.StatusCode.ShouldBe(HttpStatusCode.OK);
        html.ShouldContain(memberEmail);
        html.ShouldNotContain("Create invitation link");
        html.ShouldNotContain("Change role");

        // The form a manager sees, posted by the member: refused.
        using var forged = await member.ForgeAsync($"/teams/{team}/members", $"change-role-{ownerId}",
            new Dictionary<string, string> { ["Change.UserId"] = ownerId, ["Change.Role"] = "member" });
        forged.StatusCode.ShouldBe(HttpStatusCode.BadRequest); // no such form for a member
        (await RoleAsync(team, ownerId)).ShouldBe("owner");

        // With a second owner, the first can step down.
        var memberId = await UserIdAsync(memberEmail);
        (await owner.SubmitForPageAsync($"/teams/{team}/members", $"change-role-{memberId}",
            new Dictionary<string, string> { ["Change.UserId"] = memberId, ["Change.Role"] = "owner" })).ShouldContain("Role changed.");
        (await owner.SubmitForPageAsync($"/teams/{team}/members", $"change-role-{ownerId}",
            new Dictionary<string, string> { ["Change.UserId"] = ownerId, ["Change.Role"] = "member" })).ShouldContain("Role changed.");
        (await RoleAsync(team, ownerId)).ShouldBe("member");
    }

    /// <summary>Creates an invitation link on the members page; returns its token.</summary>
    private static async Task<string> CreateInvitationAsync(FormBrowser owner, string team, string role)
    {
        var html = await owner.SubmitForPageAsync($"/teams/{team}/members", "create-invitation",
            new Dictionary<string, string> { ["Invite.Role"] = role, ["Invite.Email"] = "" });
        var link = InvitationLink().Match(html);
        link.Success.ShouldBeTrue(html);
        return link.Groups["token"].Value;
    }

    private async Task<long> MemberCountAsync(string team)
    {
        await using var cmd = Database.CreateCommand("SELECT count(*) FROM team_members WHERE team_id = @t");
        cmd.Parameters.AddWithValue("t", team);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }

    private async Task<string> RoleAsync(string team, string userId)
    {
        await using var cmd = Database.CreateCommand("SELECT role FROM team_members WHERE team_id = @t AND user_id = @u");
        cmd.Parameters.AddWithValue("t", team);
        cmd.Parameters.AddWithValue("u", userId);
        return (string)(await cmd.ExecuteScalarAsync())!;
    }

    private async Task<string> UserIdAsync(string email)
    {
        await using var cmd = Database.CreateCommand("SELECT \"Id\" FROM identity.\"AspNetUsers\" WHERE \"NormalizedEmail\" = upper(@e)");
        cmd.Parameters.AddWithValue("e", email);
        return (string)(await cmd.ExecuteScalarAsync())!;
    }

    [GeneratedRegex("data-testid=\"invitation-link\"[^>]*value=\"[^\"]*/invitations/(?<token>[A-Za-z0-9_-]+)\"")]
    private static partial Regex InvitationLink();
}
