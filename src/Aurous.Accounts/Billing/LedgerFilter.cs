using System.Globalization;

namespace Aurous.Accounts.Billing;

/// <summary>Which ledger entries to list: one kind (or all) and an inclusive range of UTC dates (either end open).</summary>
public sealed record LedgerFilter(string? Kind = null, DateOnly? From = null, DateOnly? To = null)
{
    /// <summary>The kinds a ledger entry can have, in the order the dashboard offers them.</summary>
    public static readonly IReadOnlyList<string> Kinds = ["grant", "purchase", "charge", "refund", "adjustment"];

    public static bool IsKind(string? kind) => kind is not null && Kinds.Contains(kind);

    /// <summary>The first instant included (midnight UTC of <see cref="From"/>), or null.</summary>
    public DateTime? FromUtc => From?.ToDateTime(TimeOnly.MinValue, DateTimeKind.Utc);

    /// <summary>The first instant excluded (midnight UTC after <see cref="To"/>), or null.</summary>
    public DateTime? ToUtcExclusive => To?.AddDays(1).ToDateTime(TimeOnly.MinValue, DateTimeKind.Utc);
}

/// <summary>
/// A position in the ledger for keyset paging: entries are ordered by (created_at, id), newest first, so a page is
/// "the next 50 before this entry" (or after it, going back) whatever was booked meanwhile.
/// </summary>
public readonly record struct LedgerCursor(DateTimeOffset CreatedAt, long Id)
{
    /// <summary>Postgres keeps microseconds; the cursor carries exactly those, so no entry is skipped or repeated.</summary>
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{(CreatedAt.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / 10}_{Id}");

    public static bool TryParse(string? text, out LedgerCursor cursor)
    {
        cursor = default;
        var parts = text?.Split('_');
        if (parts is not [var micros, var id]
            || !long.TryParse(micros, NumberStyles.None, CultureInfo.InvariantCulture, out var us)
            || !long.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out var entryId)
            || us > (DateTimeOffset.MaxValue.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / 10)
        {
            return false;
        }
        cursor = new LedgerCursor(DateTimeOffset.UnixEpoch.AddTicks(us * 10), entryId);
        return true;
    }
}

/// <summary>One ledger entry as its team sees it. A charge carries the request id whose receipt explains it.</summary>
public sealed record LedgerEntry(long Id, string Kind, decimal Amount, string? RequestId, string Description, DateTimeOffset CreatedAt)
{
    public LedgerCursor Cursor => new(CreatedAt, Id);
}

/// <summary>A page of the ledger, newest first, with the cursors to the pages on either side (null at the ends).</summary>
public sealed record LedgerPage(IReadOnlyList<LedgerEntry> Entries, LedgerCursor? Newer, LedgerCursor? Older);
