using Aurous.Models;

namespace Aurous.InferenceWorker.Chat;

/// <summary>A validated request, bound to its loaded model.</summary>
public sealed record ChatGeneration(
    string ModelId,
    ChatModel Model,
    long[] Prompt,
    int MaxTokens,
    double Temperature,
    double TopP,
    ulong Seed,
    IReadOnlyList<string> Stop,
    bool IgnoreEos,
    SchemaNode? Format = null,
    int ReasoningBudget = 0,
    ToolCalling? Tools = null,
    IReadOnlyList<string>? Images = null,
    MediaRules? Media = null)
{
    /// <summary>The images' features for the prompt's image pad tokens, once <see cref="ChatEngine.EncodeImagesAsync"/> has run.</summary>
    public float[]? ImageFeatures { get; init; }

    /// <summary>Decode with a decoder run of its own per token even where <c>Inference:MaxDecodeBatch</c> batches the rest
    /// (the internal endpoint's <c>Aurous-Decode: alone</c> header: a diagnostic and benchmark switch).</summary>
    public bool DecodeAlone { get; init; }
}
