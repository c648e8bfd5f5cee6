using Npgsql;
using NpgsqlTypes;
using Aurous.Persistence;

namespace Aurous.Accounts;

/// <summary>A hold asked of a batch: its id is chosen before the batch runs.</summary>
internal sealed record HoldAsk(string Id, string TeamId, string RequestId, string Endpoint, string Model, decimal Amount);

/// <summary>A capture asked of a batch, with the receipt id it will have if it is charged.</summary>
internal sealed record CaptureAsk(Capture Capture, string ReceiptId)
{
    /// <summary>What the batch reports its receipt under: the hold's id, or for a charge spent from a lease the request's id.</summary>
    public string Key => Capture.FromLease ? Capture.RequestId : Capture.HoldId;
}

/// <summary>A release asked of a batch; the team is known to the caller, so its balance row is locked up front.</summary>
internal sealed record ReleaseAsk(string TeamId, string HoldId);

/// <summary>
/// The statements of a group commit: many holds, captures or releases in one transaction and one round trip. Each batch
/// sets its transaction's settings, locks the balance rows of its teams in team order (so two batches never wait on
/// each other in a cycle), then runs one statement whose snapshot is taken after those locks, so it reads every team's
/// current balance. The CHECKs of <c>team_balances</c> stay the last line of defence: a batch that would overdraw fails
/// as a whole.
/// </summary>
internal static class CreditBatches
{
    // The transaction's own settings, before any statement that reads a table: its commit (relaxed or durable), and the
    // plans of the statements after it, which are the prepared generic ones. The statements take arrays, so Postgres'
    // default would plan them afresh at every execution (a custom plan per array), which cost about an eighth of its
    // CPU per request at 300 req/s.
    private const string Settings = """
        SELECT set_config('synchronous_commit', $1, true), set_config('plan_cache_mode', 'force_generic_plan', true)
        """;

    private const string LockTeams = """
        SELECT team_id FROM team_balances WHERE team_id = ANY($1) ORDER BY team_id FOR UPDATE
        """;

    // Per team, in arrival order, admits holds while their running sum fits the team's available credits: a prefix.
    private const string PlaceHolds = """
        WITH req AS (
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::numeric[], $5::text[], $6::text[])
                WITH ORDINALITY AS r(id, team_id, request_id, amount, endpoint, model, ord)),
        ranked AS (
            SELECT r.*, tb.credits - tb.held AS available,
                   sum(r.amount) OVER (PARTITION BY r.team_id ORDER BY r.ord) AS running
            FROM req r JOIN team_balances tb ON tb.team_id = r.team_id),
        ok AS (SELECT * FROM ranked WHERE running <= available),
        b AS (
            UPDATE team_balances tb SET held = tb.held + s.total
            FROM (SELECT team_id, sum(amount) AS total FROM ok GROUP BY team_id) s
            WHERE tb.team_id = s.team_id
            RETURNING tb.team_id)
        INSERT INTO credit_holds (id, team_id, request_id, amount, state, endpoint, model)
        SELECT ok.id, ok.team_id, ok.request_id, ok.amount, 'held', ok.endpoint, ok.model FROM ok JOIN b ON b.team_id = ok.team_id
        RETURNING id
        """;

    // The batch form of CreditHolds.CaptureAsync without an idempotent response: one row per hold it charged. A hold it
    // did not charge (already captured by a retry, released, expired) is asked alone by the queue, whose statement
    // finds the first receipt by the hold's key. Looking those up here made every batch scan all charges when the
    // prepared plan was made while the tables were still small (a new database), so its cost grew with the ledger.
    private const string CaptureHolds = """
        WITH req AS (
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::numeric[],
                                 $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])
                AS r(hold_id, team_id, request_id, api_key_id, endpoint, model, amount, tokens, rates, breakdown, end_user, receipt_id)),
        h AS (
            UPDATE credit_holds c SET state = 'captured', settled_at = now(), captured_amount = r.amount
            FROM req r
            WHERE c.id = r.hold_id AND c.team_id = r.team_id AND c.state = 'held' AND NOT c.lease AND c.amount >= r.amount
            RETURNING c.id, c.team_id, c.amount AS held_amount, r.amount, r.request_id, r.api_key_id, r.endpoint, r.model,
                      r.tokens, r.rates, r.breakdown, r.end_user, r.receipt_id),
        per_team AS (SELECT team_id, sum(held_amount) AS held, sum(amount) AS charged FROM h GROUP BY team_id),
        b AS (
            UPDATE team_balances tb SET held = tb.held - p.held, credits = tb.credits - p.charged
            FROM per_team p WHERE tb.team_id = p.team_id
            RETURNING tb.team_id),
        l AS (
            INSERT INTO ledger_entries (team_id, kind, amount, request_id, hold_id, description)
            SELECT h.team_id, 'charge', -h.amount, h.request_id, h.id, h.endpoint || ' ' || h.model FROM h JOIN b ON b.team_id = h.team_id
            RETURNING id, hold_id),
        receipt AS (
            INSERT INTO usage_receipts (id, team_id, ledger_entry_id, request_id, api_key_id, endpoint, model, tokens, rates, breakdown, amount, end_user)
            SELECT h.receipt_id, h.team_id, l.id, h.request_id, h.api_key_id, h.endpoint, h.model,
                   h.tokens::jsonb, h.rates::jsonb, h.breakdown::jsonb, h.amount, h.end_user
            FROM h JOIN l ON l.hold_id = h.id
            RETURNING id)
        SELECT h.id, receipt.id FROM receipt JOIN h ON h.receipt_id = receipt.id
        """;

    // The batch form of a charge spent from a lease (Capture.FromLease): per lease, all of its charges or none (a lease no
    // longer open, expired by the sweeper after its instance stalled, charges nothing, and its captures are asked alone).
    // The lease's amount, the team's held and its credits all fall by the charges. One row per request charged.
    private const string CaptureFromLeases = """
        WITH req AS (
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::numeric[],
                                 $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])
                AS r(lease_id, team_id, request_id, api_key_id, endpoint, model, amount, tokens, rates, breakdown, end_user, receipt_id)),
        per_lease AS (SELECT lease_id, team_id, sum(amount) AS total FROM req GROUP BY lease_id, team_id),
        s AS (
            UPDATE credit_holds c SET amount = c.amount - p.total
            FROM per_lease p
            WHERE c.id = p.lease_id AND c.team_id = p.team_id AND c.lease AND c.state = 'held' AND c.amount >= p.total
            RETURNING c.id, c.team_id, p.total),
        per_team AS (SELECT team_id, sum(total) AS total FROM s GROUP BY team_id),
        b AS (
            UPDATE team_balances tb SET held = tb.held - p.total, credits = tb.credits - p.total
            FROM per_team p WHERE tb.team_id = p.team_id
            RETURNING tb.team_id),
        ok AS (SELECT r.* FROM req r JOIN s ON s.id = r.lease_id AND s.team_id = r.team_id JOIN b ON b.team_id = r.team_id),
        l AS (
            INSERT INTO ledger_entries (team_id, kind, amount, request_id, lease_id, description)
            SELECT ok.team_id, 'charge', -ok.amount, ok.request_id, ok.lease_id, ok.endpoint || ' ' || ok.model FROM ok
            RETURNING id, team_id, request_id),
        receipt AS (
            INSERT INTO usage_receipts (id, team_id, ledger_entry_id, request_id, api_key_id, endpoint, model, tokens, rates, breakdown, amount, end_user)
            SELECT ok.receipt_id, ok.team_id, l.id, ok.request_id, ok.api_key_id, ok.endpoint, ok.model,
                   ok.tokens::jsonb, ok.rates::jsonb, ok.breakdown::jsonb, ok.amount, ok.end_user
            FROM ok JOIN l ON l.team_id = ok.team_id AND l.request_id = ok.request_id
            RETURNING request_id, id)
        SELECT request_id, id FROM receipt
        """;

    // The receipt of a request already charged from a lease (a capture asked again after its batch failed).
    private const string LeaseReceipt = """
        SELECT u.id FROM ledger_entries e JOIN usage_receipts u ON u.ledger_entry_id = e.id
        WHERE e.team_id = $1 AND e.request_id = $2 AND e.kind = 'charge' AND e.lease_id = $3
        """;

    private const string ReleaseHolds = """
        WITH h AS (
            UPDATE credit_holds SET state = 'released', settled_at = now()
            WHERE id = ANY($1) AND state = 'held' AND NOT lease
            RETURNING id, team_id, amount),
        per_team AS (SELECT team_id, sum(amount) AS amount FROM h GROUP BY team_id),
        b AS (UPDATE team_balances tb SET held = tb.held - p.amount FROM per_team p WHERE tb.team_id = p.team_id)
        SELECT id FROM h
        """;

    /// <summary>Places what fits of <paramref name="asks"/> (relaxed commit); returns the ids of the holds placed.</summary>
    public static async Task<HashSet<string>> PlaceAsync(NpgsqlDataSource db, IReadOnlyList<HoldAsk> asks, CancellationToken ct)
    {
        await using var batch = db.CreateBatch();
        AddSettingsAndLocks(batch, asks.Select(a => a.TeamId), relaxed: true);
        batch.BatchCommands.Add(Command(PlaceHolds,
            Texts(asks.Select(a => a.Id)), Texts(asks.Select(a => a.TeamId)), Texts(asks.Select(a => a.RequestId)),
            Numerics(asks.Select(a => a.Amount)), Texts(asks.Select(a => a.Endpoint)), Texts(asks.Select(a => a.Model))));
        var ids = new HashSet<string>();
        await ReadLastResultAsync(batch, r => ids.Add(r.GetString(0)), ct);
        return ids;
    }

    /// <summary>
    /// Captures <paramref name="asks"/> in one durable transaction, charges of holds and charges spent from leases alike;
    /// returns the receipt id of each one charged, by <see cref="CaptureAsk.Key"/>.
    /// </summary>
    public static async Task<Dictionary<string, string>> CaptureAsync(NpgsqlDataSource db, IReadOnlyList<CaptureAsk> asks, CancellationToken ct)
    {
        await using var batch = db.CreateBatch();
        AddSettingsAndLocks(batch, asks.Select(a => a.Capture.TeamId), relaxed: false);
        var fromHolds = asks.Where(a => !a.Capture.FromLease).ToArray();
        var fromLeases = asks.Where(a => a.Capture.FromLease).ToArray();
        if (fromHolds.Length > 0)
        {
            batch.BatchCommands.Add(CaptureCommand(CaptureHolds, fromHolds));
        }
        if (fromLeases.Length > 0)
        {
            batch.BatchCommands.Add(CaptureCommand(CaptureFromLeases, fromLeases));
        }
        var receipts = new Dictionary<string, string>();
        await ReadResultsAsync(batch, 2, r => receipts[r.GetString(0)] = r.GetString(1), ct);
        return receipts;
    }

    /// <summary>
    /// One charge spent from a lease, in its own durable transaction: its receipt, the first receipt when the request was
    /// already charged from that lease, or null when the lease is no longer open or cannot cover it (nothing charged).
    /// </summary>
    public static async Task<string?> CaptureFromLeaseAsync(NpgsqlDataSource db, Capture capture, CancellationToken ct)
    {
        try
        {
            var receipts = await CaptureAsync(db, [new CaptureAsk(capture, Ulid.NewId("rcpt"))], ct);
            if (receipts.TryGetValue(capture.RequestId, out var receipt))
            {
                return receipt;
            }
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            // Charged already (one charge per request): its first receipt, below.
        }
        await using var lookup = db.CreateCommand(LeaseReceipt);
        lookup.Parameters.Add(new NpgsqlParameter<string> { TypedValue = capture.TeamId });
        lookup.Parameters.Add(new NpgsqlParameter<string> { TypedValue = capture.RequestId });
        lookup.Parameters.Add(new NpgsqlParameter<string> { TypedValue = capture.HoldId });
        return await lookup.ExecuteScalarAsync(ct) as string;
    }

    private static NpgsqlBatchCommand CaptureCommand(string sql, CaptureAsk[] asks)
    {
        var c = asks.Select(a => a.Capture).ToArray();
        return Command(sql,
            Texts(c.Select(x => x.HoldId)), Texts(c.Select(x => x.TeamId)), Texts(c.Select(x => x.RequestId)),
            Texts(c.Select(x => x.ApiKeyId)), Texts(c.Select(x => x.Endpoint)), Texts(c.Select(x => x.Model)),
            Numerics(c.Select(x => x.Amount)), Texts(c.Select(x => x.TokensJson)), Texts(c.Select(x => x.RatesJson)),
            Texts(c.Select(x => x.BreakdownJson)), Texts(c.Select(x => x.EndUser)), Texts(asks.Select(a => a.ReceiptId)));
    }

    /// <summary>Releases the open holds among <paramref name="asks"/> (relaxed commit); returns the ids released.</summary>
    public static async Task<HashSet<string>> ReleaseAsync(NpgsqlDataSource db, IReadOnlyList<ReleaseAsk> asks, CancellationToken ct)
    {
        await using var batch = db.CreateBatch();
        AddSettingsAndLocks(batch, asks.Select(a => a.TeamId), relaxed: true);
        batch.BatchCommands.Add(Command(ReleaseHolds, Texts(asks.Select(a => a.HoldId))));
        var ids = new HashSet<string>();
        await ReadLastResultAsync(batch, r => ids.Add(r.GetString(0)), ct);
        return ids;
    }

    private static Task ReadLastResultAsync(NpgsqlBatch batch, Action<NpgsqlDataReader> row, CancellationToken ct) =>
        ReadResultsAsync(batch, batch.BatchCommands.Count - 1, row, ct);

    /// <summary>Reads the rows of every command from index <paramref name="first"/> on (those before return nothing of use).</summary>
    internal static async Task ReadResultsAsync(NpgsqlBatch batch, int first, Action<NpgsqlDataReader> row, CancellationToken ct)
    {
        // Without an explicit transaction, the batch's commands run in one implicit transaction.
        await using var reader = await batch.ExecuteReaderAsync(ct);
        for (var i = 0; i < batch.BatchCommands.Count; i++)
        {
            if (i > 0)
            {
                await reader.NextResultAsync(ct);
            }
            while (i >= first && await reader.ReadAsync(ct))
            {
                row(reader);
            }
        }
    }

    internal static void AddSettingsAndLocks(NpgsqlBatch batch, IEnumerable<string> teams, bool relaxed)
    {
        batch.BatchCommands.Add(Command(Settings, new NpgsqlParameter<string> { TypedValue = relaxed ? "off" : "on", NpgsqlDbType = NpgsqlDbType.Text }));
        batch.BatchCommands.Add(Command(LockTeams, Texts(teams.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))));
    }

    internal static NpgsqlBatchCommand Command(string sql, params NpgsqlParameter[] parameters)
    {
        var command = new NpgsqlBatchCommand(sql);
        command.Parameters.AddRange(parameters);
        return command;
    }

    internal static NpgsqlParameter Texts(IEnumerable<string?> values) =>
        new NpgsqlParameter<string?[]> { TypedValue = values.ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text };

    internal static NpgsqlParameter Numerics(IEnumerable<decimal> values) =>
        new NpgsqlParameter<decimal[]> { TypedValue = values.ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Numeric };
}
