using System.Text.Json;

namespace Aurous.InferenceWorker.Chat;

/// <summary>The KV cache's shape from Hugging Face <c>config.json</c>.</summary>
public sealed record DecoderShape(int Layers, int KvHeads, int HeadDim, int Heads)
{
    public static DecoderShape From(JsonElement config)
    {
        var layers = Int(config, "num_hidden_layers") ?? Int(config, "n_layer")
            ?? throw new InvalidDataException("config.json has no num_hidden_layers");
        var heads = Int(config, "num_attention_heads") ?? Int(config, "n_head")
            ?? throw new InvalidDataException("config.json has no num_attention_heads");
        var kvHeads = Int(config, "num_key_value_heads") ?? heads;
        var headDim = Int(config, "head_dim")
            ?? (Int(config, "hidden_size") ?? Int(config, "n_embd")) / heads
            ?? throw new InvalidDataException("config.json has neither head_dim nor hidden_size");
        if (layers <= 0 || heads <= 0 || kvHeads <= 0 || headDim <= 0)
        {
            throw new InvalidDataException($"config.json gives layers {layers}, attention heads {heads}, key/value heads {kvHeads}, head_dim {headDim}: all must be positive");
        }
        return new DecoderShape(layers, kvHeads, headDim, heads);
    }

    internal static int? Int(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) ? i : null;
}
