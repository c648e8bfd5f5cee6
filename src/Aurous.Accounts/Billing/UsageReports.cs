using Dapper;
using Npgsql;

namespace Aurous.Accounts.Billing;

/// <summary>Builds a team's <see cref="UsageReport"/> from its receipts (one query: every view derives from its rows).</summary>
public sealed class UsageReports(NpgsqlDataSource db, TimeProvider clock)
{
    /// <summary>The last <see cref="UsageReport.WindowDays"/> UTC days, ending today by the service's clock.</summary>
    public Task<UsageReport> LastDaysAsync(string teamId, CancellationToken ct = default)
    {
        var (from, to) = UsageReport.WindowEndingAt(clock.GetUtcNow());
        return ForDaysAsync(teamId, from, to, ct);
    }

    /// <summary>
    /// Usage of the UTC days <paramref name="from"/> to <paramref name="to"/> inclusive. Each receipt's tokens and its
    /// breakdown (credits) share the shape {"input": {modality: n}, "output": {modality: n}}: a row per day, model,
    /// direction and modality that used tokens or cost credits.
    /// </summary>
    public async Task<UsageReport> ForDaysAsync(string teamId, DateOnly from, DateOnly to, CancellationToken ct = default)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var rows = await conn.QueryAsync<Row>(new CommandDefinition("""
            SELECT (r.created_at AT TIME ZONE 'UTC')::date AS day, r.model, u.modality, u.direction,
                   sum(u.tokens)::bigint AS tokens, sum(u.credits) AS credits
            FROM usage_receipts r
            CROSS JOIN LATERAL (VALUES ('input'), ('output')) d(direction)
            CROSS JOIN LATERAL (
                SELECT d.direction, m.modality,
                       COALESCE((r.tokens -> d.direction ->> m.modality)::numeric, 0) AS tokens,
                       COALESCE((r.breakdown -> d.direction ->> m.modality)::numeric, 0) AS credits
                FROM (SELECT jsonb_object_keys(CASE jsonb_typeof(r.tokens -> d.direction) WHEN 'object' THEN r.tokens -> d.direction ELSE '{}' END)
                      UNION
                      SELECT jsonb_object_keys(CASE jsonb_typeof(r.breakdown -> d.direction) WHEN 'object' THEN r.breakdown -> d.direction ELSE '{}' END)
                     ) m(modality)) u
            WHERE r.team_id = @teamId AND r.created_at >= @start AND r.created_at < @end
            GROUP BY 1, 2, 3, 4
            HAVING sum(u.tokens) <> 0 OR sum(u.credits) <> 0
            ORDER BY 1, 2, 4, 3
            """,
            new
            {
                teamId,
                start = from.ToDateTime(TimeOnly.MinValue, DateTimeKind.Utc),
                end = to.AddDays(1).ToDateTime(TimeOnly.MinValue, DateTimeKind.Utc),
            },
            cancellationToken: ct));
        return new UsageReport(from, to, rows.Select(r => new UsageRow(
            r.day, r.model, r.modality, r.direction, r.tokens, CreditAmount.Normalize(r.credits))).ToList());
    }

    private sealed record Row(DateOnly day, string model, string modality, string direction, long tokens, decimal credits);
}
