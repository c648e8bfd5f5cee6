using Dapper;
using Npgsql;
using Aurous.Persistence;

namespace Aurous.Accounts;

/// <summary>A member as the members page lists them.</summary>
public sealed record TeamMember(string UserId, string Email, TeamRole Role, DateTimeOffset Joined);

/// <summary>What became of a change to a team's members.</summary>
public enum MemberChangeOutcome { Done, NotFound, LastOwner, NotAllowed }

/// <summary>
/// Who belongs to which team, with which role. Every dashboard page about a team starts from
/// <see cref="GetMembershipAsync"/>: the team id comes from the address, the user id from the sign-in, and a user who is
/// not a member gets nothing.
/// </summary>
public sealed class TeamMembers(NpgsqlDataSource db, TimeProvider clock)
{
    private const string UsersTable = "identity.\"AspNetUsers\"";

    public async Task<TeamMembership?> GetMembershipAsync(string userId, string teamId, CancellationToken ct = default)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var row = await conn.QuerySingleOrDefaultAsync<(string TeamId, string Name, string Role)?>(new CommandDefinition("""
            SELECT t.id, t.name, m.role FROM team_members m JOIN teams t ON t.id = m.team_id
            WHERE m.user_id = @userId AND m.team_id = @teamId
            """, new { userId, teamId }, cancellationToken: ct));
        return row is { } r ? new TeamMembership(r.TeamId, r.Name, userId, TeamMembership.ParseRole(r.Role)) : null;
    }

    /// <summary>The user's teams, the one they joined first first.</summary>
    public async Task<IReadOnlyList<TeamMembership>> ListTeamsAsync(string userId, CancellationToken ct = default)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var rows = await conn.QueryAsync<(string TeamId, string Name, string Role)>(new CommandDefinition("""
            SELECT t.id, t.name, m.role FROM team_members m JOIN teams t ON t.id = m.team_id
            WHERE m.user_id = @userId ORDER BY m.created_at, t.id
            """, new { userId }, cancellationToken: ct));
        return [.. rows.Select(r => new TeamMembership(r.TeamId, r.Name, userId, TeamMembership.ParseRole(r.Role)))];
    }

    public async Task<IReadOnlyList<TeamMember>> ListMembersAsync(string teamId, CancellationToken ct = default)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var rows = await conn.QueryAsync<(string UserId, string? Email, string Role, DateTime Joined)>(new CommandDefinition($"""
            SELECT m.user_id, u."Email", m.role, m.created_at FROM team_members m JOIN {UsersTable} u ON u."Id" = m.user_id
            WHERE m.team_id = @teamId ORDER BY m.created_at, u."Email"
            """, new { teamId }, cancellationToken: ct));
        return [.. rows.Select(r => new TeamMember(r.UserId, r.Email ?? "", TeamMembership.ParseRole(r.Role), new DateTimeOffset(r.Joined, TimeSpan.Zero)))];
    }

    /// <summary>A new team (no credits) with <paramref name="ownerUserId"/> as its owner, in one transaction.</summary>
    public async Task<string> CreateTeamAsync(string name, string ownerUserId, CancellationToken ct = default)
    {
        var id = Ulid.NewId("team");
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition("""
            INSERT INTO teams (id, name) VALUES (@id, @name);
            INSERT INTO team_balances (team_id) VALUES (@id);
            INSERT INTO team_members (team_id, user_id, role, created_at) VALUES (@id, @ownerUserId, 'owner', @now);
            """, new { id, name, ownerUserId, now = clock.GetUtcNow() }, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
        return id;
    }

    /// <summary>Adds the user with <paramref name="role"/>; a user already in the team keeps their role. True if added.</summary>
    public async Task<bool> AddAsync(string teamId, string userId, TeamRole role, CancellationToken ct = default)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.ExecuteAsync(new CommandDefinition("""
            INSERT INTO team_members (team_id, user_id, role, created_at) VALUES (@teamId, @userId, @role, @now)
            ON CONFLICT (team_id, user_id) DO NOTHING
            """, new { teamId, userId, role = TeamMembership.RoleName(role), now = clock.GetUtcNow() }, cancellationToken: ct)) == 1;
    }

    /// <summary>
    /// Whether <paramref name="actor"/> may give <paramref name="target"/> the role <paramref name="to"/> (null: remove
    /// them). Owners change anyone; admins change admins and members but never make or touch owners; members nothing.
    /// </summary>
    public static bool MayChange(TeamRole actor, TeamRole target, TeamRole? to) => actor switch
    {
        TeamRole.Owner => true,
        TeamRole.Admin => target != TeamRole.Owner && to != TeamRole.Owner,
        _ => false,
    };

    /// <summary>Changes a member's role; the team always keeps at least one owner.</summary>
    public Task<MemberChangeOutcome> ChangeRoleAsync(TeamMembership actor, string userId, TeamRole role, CancellationToken ct = default) =>
        ChangeAsync(actor, userId, role, ct);

    /// <summary>Removes a member; the last owner cannot be removed.</summary>
    public Task<MemberChangeOutcome> RemoveAsync(TeamMembership actor, string userId, CancellationToken ct = default) =>
        ChangeAsync(actor, userId, null, ct);

    private async Task<MemberChangeOutcome> ChangeAsync(TeamMembership actor, string userId, TeamRole? to, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        // Lock the team's member rows so that two changes at once cannot both remove "the other" owner.
        var members = (await conn.QueryAsync<(string UserId, string Role)>(new CommandDefinition(
            "SELECT user_id, role FROM team_members WHERE team_id = @teamId ORDER BY user_id FOR UPDATE",
            new { teamId = actor.TeamId }, tx, cancellationToken: ct))).ToList();
        var self = members.FirstOrDefault(m => m.UserId == actor.UserId);
        var target = members.FirstOrDefault(m => m.UserId == userId);
        if (target.UserId is null)
        {
            return MemberChangeOutcome.NotFound;
        }
        if (self.UserId is null || !MayChange(TeamMembership.ParseRole(self.Role), TeamMembership.ParseRole(target.Role), to))
        {
            return MemberChangeOutcome.NotAllowed;
        }
        var targetRole = TeamMembership.ParseRole(target.Role);
        if (targetRole == TeamRole.Owner && to != TeamRole.Owner && members.Count(m => m.Role == "owner") == 1)
        {
            return MemberChangeOutcome.LastOwner;
        }
        var sql = to is { } role
            ? "UPDATE team_members SET role = @role WHERE team_id = @teamId AND user_id = @userId"
            : "DELETE FROM team_members WHERE team_id = @teamId AND user_id = @userId";
        await conn.ExecuteAsync(new CommandDefinition(sql,
            new { teamId = actor.TeamId, userId, role = to is { } r ? TeamMembership.RoleName(r) : null }, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
        return MemberChangeOutcome.Done;
    }
}
