using System.Text;

/// <summary>
/// What constrained decoding costs per generated token: the worker's internal endpoint, max_tokens 120 with ignore_eos,
/// unconstrained against <c>json_object</c> and a small <c>json_schema</c>, the three alternating request by request so
/// that drifts of a shared machine touch them alike; each cell is the median over the rounds.
/// </summary>
static class ConstrainedCost
{
    private const int MaxTokens = 120;
    private const string JsonObject = """{"type":"json_object"}""";
    private const string PersonSchema =
        """{"type":"json_schema","schema":{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"},"tags":{"type":"array","items":{"type":"string","enum":["a","b"]}},"ok":{"type":"boolean"}},"required":["name","age","tags","ok"]}}""";

    public static async Task<string> RunAsync(Client client, int rounds)
    {
        var formats = new (string Name, string? Json)[] { ("unconstrained", null), ("json_object", JsonObject), ("json_schema", PersonSchema) };
        foreach (var (_, json) in formats)
        {
            await client.WorkerAsync(MaxTokens, ignoreEos: true, responseFormat: json); // warm-up: builds the token text table
        }
        var msPerToken = formats.ToDictionary(f => f.Name, _ => new List<double>());
        for (var round = 0; round < rounds; round++)
        {
            foreach (var (name, json) in formats)
            {
                var run = await client.WorkerAsync(MaxTokens, ignoreEos: true, responseFormat: json);
                if (run.Ok && run.Tokens > 0)
                {
                    msPerToken[name].Add(run.TotalMs / run.Tokens);
                }
            }
        }

        var report = new StringBuilder();
        report.AppendLine($"### Constrained decoding: ms per generated token, worker direct, max_tokens {MaxTokens}, ignore_eos, median of {rounds} rounds");
        report.AppendLine();
        report.AppendLine("| response_format | ms/token | runs |");
        report.AppendLine("|---|---|---|");
        foreach (var (name, values) in msPerToken)
        {
            report.AppendLine(values.Count == 0 ? $"| {name} | failed | 0 |" : $"| {name} | {values.Order().ElementAt(values.Count / 2):0.000} | {values.Count} |");
        }
        Console.Write(report);
        return report.ToString();
    }
}
