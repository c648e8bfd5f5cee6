using System.Text.Json;
using Dapper;
using Npgsql;

namespace Aurous.Accounts.Billing;

/// <summary>One modality of one direction of a receipt: the tokens used, the rate applied and what it cost.</summary>
public sealed record ReceiptLine(string Direction, string Modality, long Tokens, decimal RatePerMillion, decimal Credits);

/// <summary>What a charged request used, at which rates, for how much: the receipt booked with its ledger charge.</summary>
public sealed record Receipt(
    string Id, string RequestId, long LedgerEntryId, string ApiKeyId, string Endpoint, string Model, decimal Amount,
    DateTimeOffset CreatedAt, IReadOnlyList<ReceiptLine> Lines);

/// <summary>Finds a request's receipt within one team: another team's request id is simply not found.</summary>
public sealed class Receipts(NpgsqlDataSource db)
{
    public async Task<Receipt?> FindByRequestIdAsync(string teamId, string requestId, CancellationToken ct = default)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var row = await conn.QueryFirstOrDefaultAsync<Row>(new CommandDefinition("""
            SELECT id, request_id, ledger_entry_id, api_key_id, endpoint, model, amount, created_at,
                   tokens::text AS tokens, rates::text AS rates, breakdown::text AS breakdown
            FROM usage_receipts WHERE team_id = @teamId AND request_id = @requestId
            ORDER BY created_at DESC LIMIT 1
            """, new { teamId, requestId }, cancellationToken: ct));
        return row?.ToReceipt();
    }

    private sealed record Row(
        string id, string request_id, long ledger_entry_id, string api_key_id, string endpoint, string model, decimal amount,
        DateTime created_at, string tokens, string rates, string breakdown)
    {
        public Receipt ToReceipt() => new(id, request_id, ledger_entry_id, api_key_id, endpoint, model, CreditAmount.Normalize(amount),
            new DateTimeOffset(DateTime.SpecifyKind(created_at, DateTimeKind.Utc)), Lines(tokens, rates, breakdown));
    }

    /// <summary>
    /// One line per modality that used tokens or cost credits, inputs first. The three documents share one shape,
    /// {"input": {modality: n}, "output": {modality: n}}, whichever endpoint wrote them.
    /// </summary>
    internal static IReadOnlyList<ReceiptLine> Lines(string tokensJson, string ratesJson, string breakdownJson)
    {
        var tokens = Read(tokensJson);
        var rates = Read(ratesJson);
        var breakdown = Read(breakdownJson);
        var lines = new List<ReceiptLine>();
        foreach (var direction in new[] { "input", "output" })
        {
            var modalities = Modalities(tokens, direction).Union(Modalities(breakdown, direction));
            foreach (var modality in modalities)
            {
                var used = (long)Value(tokens, direction, modality);
                var credits = Value(breakdown, direction, modality);
                if (used != 0 || credits != 0)
                {
                    lines.Add(new ReceiptLine(direction, modality, used, Value(rates, direction, modality), CreditAmount.Normalize(credits)));
                }
            }
        }
        return lines;
    }

    private static Dictionary<string, Dictionary<string, decimal>> Read(string json)
    {
        var result = new Dictionary<string, Dictionary<string, decimal>>();
        using var doc = JsonDocument.Parse(json);
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
        {
            return result;
        }
        foreach (var direction in doc.RootElement.EnumerateObject().Where(d => d.Value.ValueKind == JsonValueKind.Object))
        {
            result[direction.Name] = direction.Value.EnumerateObject()
                .Where(m => m.Value.ValueKind == JsonValueKind.Number)
                .ToDictionary(m => m.Name, m => m.Value.GetDecimal());
        }
        return result;
    }

    private static IEnumerable<string> Modalities(Dictionary<string, Dictionary<string, decimal>> doc, string direction) =>
        doc.TryGetValue(direction, out var m) ? m.Keys : [];

    private static decimal Value(Dictionary<string, Dictionary<string, decimal>> doc, string direction, string modality) =>
        doc.TryGetValue(direction, out var m) && m.TryGetValue(modality, out var v) ? v : 0m;
}
