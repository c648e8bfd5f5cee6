using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using Npgsql;

namespace Aurous.Persistence;

/// <summary>
/// Applies the versioned SQL files under Migrations/ (embedded, applied in name order, each in its own transaction),
/// recording each in schema_migrations with a checksum. Safe to run from several processes at once (advisory lock);
/// an applied file that was edited afterwards is an error, never silently skipped. Stands in for EF Core migrations,
/// whose design-time tooling cannot be restored here.
/// </summary>
public static class SchemaMigrator
{
    private const long LockKey = 0x4155524f5553; // "AUROUS"

    public sealed record Migration(string Version, string Name, string Sql, string Checksum);

    public static IReadOnlyList<Migration> All { get; } = Load();

    /// <summary>Applies pending migrations; returns the versions applied by this call.</summary>
    public static async Task<IReadOnlyList<string>> MigrateAsync(string connectionString, CancellationToken cancellationToken = default)
    {
        await using var db = NpgsqlDataSource.Create(connectionString);
        return await MigrateAsync(db, cancellationToken);
    }

    /// <summary>Applies pending migrations over a connection from <paramref name="db"/>; returns the versions applied by this call.</summary>
    public static async Task<IReadOnlyList<string>> MigrateAsync(NpgsqlDataSource db, CancellationToken cancellationToken = default)
    {
        await using var conn = await db.OpenConnectionAsync(cancellationToken);
        await Exec(conn, null, $"SELECT pg_advisory_lock({LockKey})", cancellationToken);
        try
        {
            await Exec(conn, null, """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version text PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())
                """, cancellationToken);

            var applied = new Dictionary<string, string>();
            await using (var cmd = new NpgsqlCommand("SELECT version, checksum FROM schema_migrations", conn))
            await using (var reader = await cmd.ExecuteReaderAsync(cancellationToken))
            {
                while (await reader.ReadAsync(cancellationToken))
                {
                    applied[reader.GetString(0)] = reader.GetString(1);
                }
            }

            var done = new List<string>();
            foreach (var m in All)
            {
                if (applied.TryGetValue(m.Version, out var checksum))
                {
                    if (checksum != m.Checksum)
                    {
                        throw new InvalidOperationException($"Migration {m.Version}_{m.Name} was changed after it was applied; add a new migration instead.");
                    }
                    continue;
                }
                await using var tx = await conn.BeginTransactionAsync(cancellationToken);
                await Exec(conn, tx, m.Sql, cancellationToken);
                await using (var record = new NpgsqlCommand("INSERT INTO schema_migrations (version, name, checksum) VALUES (@v, @n, @c)", conn, tx))
                {
                    record.Parameters.AddWithValue("v", m.Version);
                    record.Parameters.AddWithValue("n", m.Name);
                    record.Parameters.AddWithValue("c", m.Checksum);
                    await record.ExecuteNonQueryAsync(cancellationToken);
                }
                await tx.CommitAsync(cancellationToken);
                done.Add(m.Version);
            }
            return done;
        }
        finally
        {
            await Exec(conn, null, $"SELECT pg_advisory_unlock({LockKey})", CancellationToken.None);
        }
    }

    private static async Task Exec(NpgsqlConnection conn, NpgsqlTransaction? tx, string sql, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, conn, tx);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    private static List<Migration> Load()
    {
        var asm = typeof(SchemaMigrator).Assembly;
        const string prefix = "Aurous.Persistence.Migrations.";
        return asm.GetManifestResourceNames()
            .Where(n => n.StartsWith(prefix, StringComparison.Ordinal) && n.EndsWith(".sql", StringComparison.Ordinal))
            .Select(n =>
            {
                var file = n[prefix.Length..^4];
                var underscore = file.IndexOf('_');
                using var stream = asm.GetManifestResourceStream(n)!;
                using var reader = new StreamReader(stream, Encoding.UTF8);
                var sql = reader.ReadToEnd();
                var checksum = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sql.ReplaceLineEndings("\n"))));
                return new Migration(file[..underscore], file[(underscore + 1)..], sql, checksum);
            })
            .OrderBy(m => m.Version, StringComparer.Ordinal)
            .ToList();
    }
}
