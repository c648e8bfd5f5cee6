using System.Text.Json;

namespace Aurous.InferenceWorker.Chat;

/// <summary>From <c>generation_config.json</c> (falling back to <c>config.json</c>): end-of-sequence ids and sampling defaults.</summary>
public sealed record GenerationDefaults(IReadOnlyList<int> EosTokenIds, double Temperature, double TopP)
{
    public static GenerationDefaults From(JsonElement generation, JsonElement config)
    {
        var eos = EosIds(generation);
        if (eos.Count == 0)
        {
            eos = EosIds(config);
        }
        return new GenerationDefaults(eos, Double(generation, "temperature") ?? 1.0, Double(generation, "top_p") ?? 1.0);
    }

    private static List<int> EosIds(JsonElement e)
    {
        var ids = new List<int>();
        if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty("eos_token_id", out var v))
        {
            return ids;
        }
        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var one))
        {
            ids.Add(one);
        }
        else if (v.ValueKind == JsonValueKind.Array)
        {
            ids.AddRange(v.EnumerateArray().Where(x => x.ValueKind == JsonValueKind.Number && x.TryGetInt32(out _)).Select(x => x.GetInt32()));
        }
        return ids;
    }

    private static double? Double(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;
}
