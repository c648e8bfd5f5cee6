using Dapper;
using Npgsql;

namespace Aurous.Accounts.Billing;

/// <summary>The team's ledger, paged by keyset (created_at, id) and filtered by kind and UTC dates.</summary>
public sealed class LedgerHistory(NpgsqlDataSource db)
{
    public const int PageSize = 50;

    /// <summary>
    /// The page of entries older than <paramref name="before"/> (the newest page when both cursors are null), or the
    /// page just newer than <paramref name="after"/> when going back.
    /// </summary>
    public async Task<LedgerPage> GetPageAsync(
        string teamId, LedgerFilter filter, LedgerCursor? before = null, LedgerCursor? after = null, int pageSize = PageSize, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(pageSize);
        if (filter.Kind is not null && !LedgerFilter.IsKind(filter.Kind))
        {
            throw new ArgumentException($"Unknown ledger entry kind '{filter.Kind}'.", nameof(filter));
        }
        var goingBack = before is null && after is not null;
        var cursor = goingBack ? after : before;
        await using var conn = await db.OpenConnectionAsync(ct);
        var rows = (await conn.QueryAsync<Row>(new CommandDefinition($"""
            SELECT id, kind, amount, request_id, description, created_at FROM ledger_entries
            WHERE team_id = @teamId
              AND (@kind::text IS NULL OR kind = @kind)
              AND (@from::timestamptz IS NULL OR created_at >= @from)
              AND (@to::timestamptz IS NULL OR created_at < @to)
              AND (@cursorAt::timestamptz IS NULL OR (created_at, id) {(goingBack ? ">" : "<")} (@cursorAt, @cursorId))
            ORDER BY created_at {(goingBack ? "ASC" : "DESC")}, id {(goingBack ? "ASC" : "DESC")}
            LIMIT @limit
            """,
            new
            {
                teamId, kind = filter.Kind, from = filter.FromUtc, to = filter.ToUtcExclusive,
                cursorAt = cursor?.CreatedAt.UtcDateTime, cursorId = cursor?.Id ?? 0L, limit = pageSize + 1,
            },
            cancellationToken: ct))).ToList();
        var more = rows.Count > pageSize;
        var entries = rows.Take(pageSize).Select(r => r.ToEntry()).ToList();
        if (goingBack)
        {
            entries.Reverse();
        }
        // Coming from a neighbouring page means that page exists; the far side exists only if the query found more.
        var hasNewer = goingBack ? more : cursor is not null;
        var hasOlder = goingBack || more;
        return new LedgerPage(entries,
            hasNewer && entries.Count > 0 ? entries[0].Cursor : null,
            hasOlder && entries.Count > 0 ? entries[^1].Cursor : null);
    }

    private sealed record Row(long id, string kind, decimal amount, string? request_id, string description, DateTime created_at)
    {
        public LedgerEntry ToEntry() => new(id, kind, CreditAmount.Normalize(amount), request_id, description,
            new DateTimeOffset(DateTime.SpecifyKind(created_at, DateTimeKind.Utc)));
    }
}
