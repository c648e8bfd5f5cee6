using System.Text.Json;
using Dapper;
using Npgsql;

namespace Aurous.Jobs;

/// <summary>Reads <c>generation_jobs</c> and <c>generation_outputs</c> rows into <see cref="JobRow"/> and <see cref="JobOutput"/>.</summary>
internal static class JobRows
{
    public const string JobColumns = """
        j.id, j.team_id, j.api_key_id, j.request_id, j.kind, j.model, j.spec::text, j.lora_id, j.lora_source, j.status, j.hold_id,
        j.estimate, j.tokens::text, j.rates::text, j.breakdown::text, j.credits_charged, j.receipt_id, j.error_code, j.error_message,
        j.cancel_requested, j.attempts, j.trace_parent, j.created_at, j.started_at, j.completed_at, j.expires_at, j.queue_deadline
        """;

    public const string OutputColumns = "o.job_id, o.index, o.token, o.blob_name, o.content_type, o.bytes, o.width, o.height, o.created_at, o.expires_at, o.deleted_at";

    /// <summary>The job with its outputs, or null.</summary>
    public static async Task<JobRow?> ReadJobAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string id, CancellationToken ct) =>
        (await ReadJobsAsync(conn, tx, $"SELECT {JobColumns} FROM generation_jobs j WHERE j.id = @id", new { id }, ct)).SingleOrDefault();

    public static async Task<List<JobRow>> ReadJobsAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string sql, object args, CancellationToken ct)
    {
        var rows = new List<JobRow>();
        await using (var reader = await conn.ExecuteReaderAsync(new CommandDefinition(sql, args, tx, cancellationToken: ct)))
        {
            while (await reader.ReadAsync(ct))
            {
                rows.Add(ReadJob(reader));
            }
        }
        if (rows.Count == 0)
        {
            return rows;
        }
        var outputs = (await ReadOutputsAsync(conn, tx, $"SELECT {OutputColumns} FROM generation_outputs o WHERE o.job_id = ANY(@ids) ORDER BY o.job_id, o.index",
            new { ids = rows.Select(r => r.Id).ToArray() }, ct)).ToLookup(o => o.JobId, o => o.Output);
        return rows.Select(r => outputs.Contains(r.Id) ? r with { Outputs = outputs[r.Id].ToList() } : r).ToList();
    }

    private static JobRow ReadJob(System.Data.Common.DbDataReader r)
    {
        var i = 0;
        string S() => r.GetString(i++);
        string? N() => r.IsDBNull(i++) ? null : r.GetString(i - 1);
        DateTimeOffset Time() => r.GetFieldValue<DateTimeOffset>(i++);
        DateTimeOffset? NTime() => r.IsDBNull(i++) ? null : r.GetFieldValue<DateTimeOffset>(i - 1);

        var id = S();
        var teamId = S();
        var apiKeyId = S();
        var requestId = S();
        var kind = S() == "image" ? JobKind.Image : JobKind.Video;
        var model = S();
        var spec = JsonSerializer.Deserialize<GenerationSpec>(S(), JobStore.SpecJson) ?? throw new InvalidDataException($"Job {id} has no spec.");
        var loraId = N();
        var loraSource = N();
        var status = S();
        var holdId = S();
        var estimate = r.GetDecimal(i++);
        var tokens = S();
        var rates = S();
        var breakdown = S();
        decimal? charged = r.IsDBNull(i++) ? null : r.GetDecimal(i - 1);
        var receiptId = N();
        var errorCode = N();
        var errorMessage = N();
        var cancelRequested = r.GetBoolean(i++);
        var attempts = r.GetInt32(i++);
        var traceParent = N();
        return new JobRow(id, teamId, apiKeyId, requestId, kind, model, spec, loraId, loraSource, status, holdId, estimate, tokens, rates, breakdown,
            charged, receiptId, errorCode, errorMessage, cancelRequested, attempts, traceParent, Time(), NTime(), NTime(), NTime(), Time(), []);
    }

    public static async Task<List<(string JobId, JobOutput Output)>> ReadOutputsAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string sql, object args, CancellationToken ct)
    {
        var outputs = new List<(string, JobOutput)>();
        await using var r = await conn.ExecuteReaderAsync(new CommandDefinition(sql, args, tx, cancellationToken: ct));
        while (await r.ReadAsync(ct))
        {
            outputs.Add((r.GetString(0), new JobOutput(
                r.GetInt32(1), r.GetString(2), r.GetString(3), r.GetString(4), r.GetInt64(5),
                r.IsDBNull(6) ? null : r.GetInt32(6), r.IsDBNull(7) ? null : r.GetInt32(7),
                r.GetFieldValue<DateTimeOffset>(8), r.GetFieldValue<DateTimeOffset>(9), r.IsDBNull(10) ? null : r.GetFieldValue<DateTimeOffset>(10))));
        }
        return outputs;
    }
}
