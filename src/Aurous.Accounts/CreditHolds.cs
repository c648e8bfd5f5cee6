using Dapper;
using Npgsql;
using Aurous.Persistence;

namespace Aurous.Accounts;

/// <summary>
/// What a capture records: the exact charge and its receipt. <see cref="HoldId"/> is the request's own hold or, when
/// <see cref="FromLease"/>, the API instance's lease (<see cref="CreditLeaseStore"/>) the request's credits were placed against.
/// </summary>
public sealed record Capture(
    string HoldId, string TeamId, string RequestId, string ApiKeyId, string Endpoint, string Model,
    decimal Amount, string TokensJson, string RatesJson, string BreakdownJson, string? EndUser, bool FromLease = false);

/// <summary>A successful response to keep for idempotent replays, stored in the capture's own transaction.</summary>
public sealed record IdempotentResponse(string Key, int StatusCode, string ContentType, byte[] Body)
{
    /// <summary>
    /// Stores this response as the result of its key inside the caller's transaction, for a request that ends without a
    /// charge of its own (a job's create: the job is charged later). False when <paramref name="requestId"/> no longer
    /// owns the key (a retry took it over), so the caller rolls back.
    /// </summary>
    public async Task<bool> CompleteAsync(string teamId, string requestId, NpgsqlTransaction transaction, CancellationToken ct = default) =>
        await transaction.Connection!.ExecuteAsync(new CommandDefinition("""
            UPDATE idempotency_records SET state = 'completed', status_code = @StatusCode, content_type = @ContentType, response_body = @Body
            WHERE team_id = @teamId AND key = @Key AND request_id = @requestId AND state = 'running'
            """, new { teamId, requestId, Key, StatusCode, ContentType, Body }, transaction, cancellationToken: ct)) == 1;
}

/// <summary>
/// Credit holds: reserve an upper bound before work, then capture the exact cost (ledger entry + receipt + running
/// balance, one statement, so one transaction) or release it. Each step is a single SQL statement whose row lock on the
/// team's balance serialises concurrent requests of one team, and whose CHECK keeps available credits >= 0.
/// Placing and releasing a hold commit without waiting for the WAL flush (synchronous_commit off for that statement
/// only): a hold lost in a database crash only frees a reservation whose request then finds nothing to capture, so it
/// can never overdraw, and the team's balance row is not locked through an fsync. Captures (money) stay fully durable.
/// </summary>
public sealed class CreditHolds(NpgsqlDataSource db)
{
    /// <summary>Places a hold of <paramref name="amount"/>; null when the team's available credits cannot cover it.</summary>
    public async Task<string?> TryPlaceAsync(string teamId, string requestId, string endpoint, string model, decimal amount, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(amount);
        var id = Ulid.NewId("hold");
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.ExecuteScalarAsync<string?>(new CommandDefinition("""
            WITH relaxed AS (SELECT set_config('synchronous_commit', 'off', true)),
            b AS (
                UPDATE team_balances SET held = held + @amount
                WHERE team_id = @teamId AND credits - held >= @amount
                RETURNING team_id)
            INSERT INTO credit_holds (id, team_id, request_id, amount, state, endpoint, model)
            SELECT @id, team_id, @requestId, @amount, 'held', @endpoint, @model FROM b, relaxed
            RETURNING id
            """, new { id, teamId, requestId, amount, endpoint, model }, cancellationToken: ct));
    }

    /// <summary>
    /// Captures <see cref="Capture.Amount"/> (at most the held amount) and releases the rest, writing the ledger entry,
    /// the receipt and, when given, the idempotent response, all in one statement. Returns the receipt id, or null if
    /// the hold was no longer open (released or expired) or, for an idempotent request, the request no longer owns its
    /// key: then nothing is charged. Capturing a hold that was already captured is a no-op that returns the first
    /// capture's receipt (a unique index also allows one charge per hold and per request).
    /// </summary>
    public async Task<string?> CaptureAsync(Capture capture, IdempotentResponse? response = null, CancellationToken ct = default)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await CaptureAsync(conn, null, capture, response, ct);
    }

    /// <summary>
    /// <see cref="CaptureAsync(Capture, IdempotentResponse?, CancellationToken)"/> inside the caller's transaction, so the
    /// charge commits (or not) together with what the caller records about it (a job ending).
    /// </summary>
    public Task<string?> CaptureWithinAsync(Capture capture, NpgsqlTransaction transaction, CancellationToken ct = default) =>
        CaptureAsync(transaction.Connection!, transaction, capture, null, ct);

    private static async Task<string?> CaptureAsync(NpgsqlConnection conn, NpgsqlTransaction? transaction, Capture capture, IdempotentResponse? response, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capture.Amount);
        if (capture.FromLease)
        {
            throw new ArgumentException("A charge spent from a lease is captured through the ledger's queue.", nameof(capture));
        }
        var receiptId = Ulid.NewId("rcpt");
        return await conn.ExecuteScalarAsync<string?>(new CommandDefinition("""
            WITH owner AS (
                -- With an Idempotency-Key, charge only while this request still owns the key (its lease may have
                -- been taken over by a retry); the row lock keeps a takeover from slipping in before the commit.
                SELECT 1 FROM idempotency_records
                WHERE team_id = @teamId AND key = @idempotencyKey AND request_id = @requestId AND state = 'running'
                FOR UPDATE),
            h AS (
                UPDATE credit_holds SET state = 'captured', settled_at = now(), captured_amount = @amount
                WHERE id = @holdId AND state = 'held' AND NOT lease AND amount >= @amount
                  AND (@idempotencyKey::text IS NULL OR EXISTS (SELECT 1 FROM owner))
                RETURNING id, team_id, amount),
            b AS (
                UPDATE team_balances tb SET held = tb.held - h.amount, credits = tb.credits - @amount
                FROM h WHERE tb.team_id = h.team_id
                RETURNING tb.team_id),
            l AS (
                INSERT INTO ledger_entries (team_id, kind, amount, request_id, hold_id, description)
                SELECT b.team_id, 'charge', -@amount, @requestId, @holdId, @endpoint || ' ' || @model FROM b
                RETURNING id, team_id),
            i AS (
                UPDATE idempotency_records r
                SET state = 'completed', status_code = @status, content_type = @contentType, response_body = @body
                FROM l WHERE @idempotencyKey::text IS NOT NULL AND r.team_id = l.team_id AND r.key = @idempotencyKey AND r.request_id = @requestId),
            receipt AS (
                INSERT INTO usage_receipts (id, team_id, ledger_entry_id, request_id, api_key_id, endpoint, model, tokens, rates, breakdown, amount, end_user)
                SELECT @receiptId, l.team_id, l.id, @requestId, @apiKeyId, @endpoint, @model, @tokens::jsonb, @rates::jsonb, @breakdown::jsonb, @amount, @endUser FROM l
                RETURNING id)
            SELECT id FROM receipt
            UNION ALL
            -- Already captured (a retried capture of the same request): its first receipt, and nothing new.
            SELECT u.id FROM usage_receipts u JOIN ledger_entries e ON e.id = u.ledger_entry_id
            WHERE e.hold_id = @holdId AND e.kind = 'charge' AND e.team_id = @teamId AND NOT EXISTS (SELECT 1 FROM receipt)
            """,
            new
            {
                receiptId, capture.HoldId, capture.TeamId, capture.RequestId, capture.ApiKeyId, capture.Endpoint, capture.Model, capture.Amount,
                tokens = capture.TokensJson, rates = capture.RatesJson, breakdown = capture.BreakdownJson, capture.EndUser,
                idempotencyKey = response?.Key, status = response?.StatusCode, contentType = response?.ContentType, body = response?.Body,
            },
            transaction, cancellationToken: ct));
    }

    /// <summary>Releases an open hold in full (the request failed or was cancelled). Settled holds are left alone.</summary>
    public async Task<bool> ReleaseAsync(string holdId, CancellationToken ct = default)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.ExecuteAsync(new CommandDefinition("""
            WITH relaxed AS (SELECT set_config('synchronous_commit', 'off', true)),
            h AS (
                UPDATE credit_holds SET state = 'released', settled_at = now()
                WHERE id = @holdId AND state = 'held' AND NOT lease
                RETURNING team_id, amount)
            UPDATE team_balances tb SET held = tb.held - h.amount FROM h, relaxed WHERE tb.team_id = h.team_id
            """, new { holdId }, cancellationToken: ct)) == 1;
    }

    /// <summary>
    /// Releases an open hold inside the caller's transaction (a job ending without a charge). Committed durably with the
    /// caller's other writes: unlike a request's own release, it is part of a state change that must not be lost.
    /// </summary>
    public static async Task<bool> ReleaseWithinAsync(string holdId, NpgsqlTransaction transaction, CancellationToken ct = default) =>
        await transaction.Connection!.ExecuteAsync(new CommandDefinition("""
            WITH h AS (
                UPDATE credit_holds SET state = 'released', settled_at = now()
                WHERE id = @holdId AND state = 'held' AND NOT lease
                RETURNING team_id, amount)
            UPDATE team_balances tb SET held = tb.held - h.amount FROM h WHERE tb.team_id = h.team_id
            """, new { holdId }, transaction, cancellationToken: ct)) == 1;

    /// <summary>
    /// Hands an open hold over to a job (inside the caller's transaction): from then on it lives as long as the job, the
    /// stale-hold sweep leaves it alone, and only the job's end captures or releases it. False when the hold is no
    /// longer open.
    /// </summary>
    public static async Task<bool> AttachToJobAsync(string holdId, string jobId, NpgsqlTransaction transaction, CancellationToken ct = default) =>
        await transaction.Connection!.ExecuteAsync(new CommandDefinition(
            "UPDATE credit_holds SET job_id = @jobId WHERE id = @holdId AND state = 'held' AND job_id IS NULL",
            new { holdId, jobId }, transaction, cancellationToken: ct)) == 1;

    /// <summary>
    /// Pushes an open hold's expiry forward: a request renews its hold while it works (see the metering heartbeat), so
    /// only holds of requests that stopped (a crashed API instance) go stale. False when the hold is no longer open.
    /// </summary>
    public async Task<bool> RenewAsync(string holdId, CancellationToken ct = default)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.ExecuteAsync(new CommandDefinition("""
            WITH relaxed AS (SELECT set_config('synchronous_commit', 'off', true))
            UPDATE credit_holds SET renewed_at = now() FROM relaxed WHERE id = @holdId AND state = 'held' AND NOT lease
            """, new { holdId }, cancellationToken: ct)) == 1;
    }

    /// <summary>
    /// Expires holds neither placed nor renewed within <paramref name="olderThan"/> (their requests crashed), leases
    /// included (their API instance stopped renewing them); returns how many. A job's hold is never stale: it is not renewed, and the job's own end settles it.
    /// </summary>
    public Task<int> ExpireStaleAsync(TimeSpan olderThan, CancellationToken ct = default) => ExpireStaleAsync(olderThan, olderThan, ct);

    /// <summary>
    /// <see cref="ExpireStaleAsync(TimeSpan, CancellationToken)"/> with leases given their own lifetime,
    /// <paramref name="leasesOlderThan"/> (the hold sweeper's <c>Metering:LeaseLifetime</c>).
    /// </summary>
    public async Task<int> ExpireStaleAsync(TimeSpan olderThan, TimeSpan leasesOlderThan, CancellationToken ct = default)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.ExecuteScalarAsync<int>(new CommandDefinition("""
            WITH h AS (
                UPDATE credit_holds SET state = 'expired', settled_at = now()
                WHERE state = 'held' AND job_id IS NULL
                  AND COALESCE(renewed_at, created_at) < now() - CASE WHEN lease THEN @leasesOlderThan ELSE @olderThan END
                RETURNING team_id, amount),
            per_team AS (SELECT team_id, sum(amount) AS amount, count(*) AS n FROM h GROUP BY team_id),
            b AS (UPDATE team_balances tb SET held = tb.held - p.amount FROM per_team p WHERE tb.team_id = p.team_id RETURNING p.n)
            SELECT COALESCE(sum(n), 0)::int FROM b
            """, new { olderThan, leasesOlderThan }, cancellationToken: ct));
    }
}
