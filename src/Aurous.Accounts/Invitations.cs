using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using Dapper;
using Npgsql;
using Aurous.Persistence;

namespace Aurous.Accounts;

/// <summary>A pending invitation as the members page lists it.</summary>
public sealed record PendingInvitation(string Id, TeamRole Role, string? Email, DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt);

/// <summary>What an invitation link leads to: the team and role, and whether it can still be accepted.</summary>
public sealed record InvitationView(string Id, string TeamId, string TeamName, TeamRole Role, bool IsValid);

/// <summary>A new invitation and its token, which exists only in the link handed to the caller.</summary>
public sealed record NewInvitation(string Id, string Token, DateTimeOffset ExpiresAt);

public enum InvitationOutcome { Accepted, AlreadyMember, NoLongerValid }

/// <summary>
/// One-time invitation links to a team. The token is 256 random bits; only its SHA-256 is kept. A link lasts
/// <see cref="Lifetime"/> and is accepted once: the acceptance and the membership are one transaction, so two accepts
/// at once make one member.
/// </summary>
public sealed class Invitations(NpgsqlDataSource db, TimeProvider clock)
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromDays(7);

    public async Task<NewInvitation> CreateAsync(string teamId, TeamRole role, string? email, string createdBy, CancellationToken ct = default)
    {
        if (role == TeamRole.Owner)
        {
            throw new ArgumentException("Invitations make admins or members.", nameof(role));
        }
        var token = Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));
        var id = Ulid.NewId("inv");
        var now = clock.GetUtcNow();
        var expires = now + Lifetime;
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition("""
            INSERT INTO team_invitations (id, team_id, role, email, token_hash, created_by, created_at, expires_at)
            VALUES (@id, @teamId, @role, @email, @hash, @createdBy, @now, @expires)
            """, new { id, teamId, role = TeamMembership.RoleName(role), email = string.IsNullOrWhiteSpace(email) ? null : email.Trim(), hash = Hash(token), createdBy, now, expires },
            cancellationToken: ct));
        return new NewInvitation(id, token, expires);
    }

    /// <summary>The invitation behind a link, or null when no invitation has that token.</summary>
    public async Task<InvitationView?> FindAsync(string token, CancellationToken ct = default)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var row = await conn.QuerySingleOrDefaultAsync<(string Id, string TeamId, string Name, string Role, bool Valid)?>(new CommandDefinition("""
            SELECT i.id, i.team_id, t.name, i.role, (i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > @now)
            FROM team_invitations i JOIN teams t ON t.id = i.team_id WHERE i.token_hash = @hash
            """, new { hash = Hash(token), now = clock.GetUtcNow() }, cancellationToken: ct));
        return row is { } r ? new InvitationView(r.Id, r.TeamId, r.Name, TeamMembership.ParseRole(r.Role), r.Valid) : null;
    }

    /// <summary>Makes <paramref name="userId"/> a member with the invitation's role and uses the invitation up.</summary>
    public async Task<(InvitationOutcome Outcome, string? TeamId)> AcceptAsync(string token, string userId, CancellationToken ct = default)
    {
        var now = clock.GetUtcNow();
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        // The row lock makes a second accept wait, then find the invitation used.
        var used = await conn.QuerySingleOrDefaultAsync<(string TeamId, string Role)?>(new CommandDefinition("""
            UPDATE team_invitations SET accepted_by = @userId, accepted_at = @now
            WHERE token_hash = @hash AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > @now
            RETURNING team_id, role
            """, new { hash = Hash(token), userId, now }, tx, cancellationToken: ct));
        if (used is not { } invitation)
        {
            return (InvitationOutcome.NoLongerValid, null);
        }
        var added = await conn.ExecuteAsync(new CommandDefinition("""
            INSERT INTO team_members (team_id, user_id, role, created_at) VALUES (@teamId, @userId, @role, @now)
            ON CONFLICT (team_id, user_id) DO NOTHING
            """, new { teamId = invitation.TeamId, userId, role = invitation.Role, now }, tx, cancellationToken: ct));
        if (added == 0)
        {
            // Already a member: leave the link unused for whom it was meant.
            await tx.RollbackAsync(ct);
            return (InvitationOutcome.AlreadyMember, invitation.TeamId);
        }
        await tx.CommitAsync(ct);
        return (InvitationOutcome.Accepted, invitation.TeamId);
    }

    public async Task<IReadOnlyList<PendingInvitation>> ListPendingAsync(string teamId, CancellationToken ct = default)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var rows = await conn.QueryAsync<(string Id, string Role, string? Email, DateTime CreatedAt, DateTime ExpiresAt)>(new CommandDefinition("""
            SELECT id, role, email, created_at, expires_at FROM team_invitations
            WHERE team_id = @teamId AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > @now ORDER BY created_at DESC
            """, new { teamId, now = clock.GetUtcNow() }, cancellationToken: ct));
        return [.. rows.Select(r => new PendingInvitation(r.Id, TeamMembership.ParseRole(r.Role), r.Email,
            new DateTimeOffset(r.CreatedAt, TimeSpan.Zero), new DateTimeOffset(r.ExpiresAt, TimeSpan.Zero)))];
    }

    /// <summary>Revokes a pending invitation of the team; false when there is none with that id.</summary>
    public async Task<bool> RevokeAsync(string teamId, string invitationId, CancellationToken ct = default)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.ExecuteAsync(new CommandDefinition("""
            UPDATE team_invitations SET revoked_at = @now
            WHERE team_id = @teamId AND id = @invitationId AND accepted_at IS NULL AND revoked_at IS NULL
            """, new { teamId, invitationId, now = clock.GetUtcNow() }, cancellationToken: ct)) == 1;
    }

    private static byte[] Hash(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));
}
