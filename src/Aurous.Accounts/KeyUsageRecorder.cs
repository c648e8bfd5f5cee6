using System.Collections.Concurrent;
using Dapper;
using Npgsql;

namespace Aurous.Accounts;

/// <summary>
/// Remembers which keys authenticated, and when, in memory, and writes them to <c>api_key_usage</c> in one statement
/// per flush (an UPSERT over arrays that only ever moves a key's time forward). Authentication never waits on the
/// database for this, and <c>api_keys</c> is never updated: its trigger would drop every instance's key cache.
/// </summary>
public sealed class KeyUsageRecorder(NpgsqlDataSource db)
{
    private readonly ConcurrentDictionary<string, DateTimeOffset> _pending = new(StringComparer.Ordinal);

    /// <summary>Keys used since the last flush.</summary>
    public int PendingCount => _pending.Count;

    public void Record(string keyId, DateTimeOffset at) =>
        _pending.AddOrUpdate(keyId, static (_, at) => at, static (_, seen, at) => at > seen ? at : seen, at);

    /// <summary>Writes what was recorded since the last flush; on failure it is kept for the next one. Returns the keys written.</summary>
    public async Task<int> FlushAsync(CancellationToken ct = default)
    {
        var batch = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
        foreach (var keyId in _pending.Keys)
        {
            if (_pending.TryRemove(keyId, out var at))
            {
                batch[keyId] = at;
            }
        }
        if (batch.Count == 0)
        {
            return 0;
        }
        try
        {
            await using var conn = await db.OpenConnectionAsync(ct);
            await conn.ExecuteAsync(new CommandDefinition("""
                INSERT INTO api_key_usage (key_id, last_used_at)
                SELECT u.key_id, u.last_used_at FROM unnest(@ids::text[], @times::timestamptz[]) AS u(key_id, last_used_at)
                JOIN api_keys k ON k.id = u.key_id
                ON CONFLICT (key_id) DO UPDATE SET last_used_at = GREATEST(api_key_usage.last_used_at, EXCLUDED.last_used_at)
                """, new { ids = batch.Keys.ToArray(), times = batch.Values.Select(t => t.UtcDateTime).ToArray() }, cancellationToken: ct));
            return batch.Count;
        }
        catch
        {
            foreach (var (keyId, at) in batch)
            {
                Record(keyId, at);
            }
            throw;
        }
    }
}
