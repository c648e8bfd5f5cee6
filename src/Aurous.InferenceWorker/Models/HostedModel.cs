using Aurous.Models;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Aurous.InferenceWorker.Models;

public enum HostedModelStatus
{
    Loaded,
    Unavailable,
}

/// <summary>A tensor as an ONNX session declares it; symbolic dimensions keep their names (e.g. "batch").</summary>
public sealed record TensorDescription(string Name, string ElementType, IReadOnlyList<object> Shape)
{
    /// <summary>The inputs or outputs of a session, in the session's order.</summary>
    public static IReadOnlyList<TensorDescription> Of(IReadOnlyDictionary<string, NodeMetadata> metadata) =>
        metadata.Select(kv => new TensorDescription(
            kv.Key,
            ElementTypeName(kv.Value.ElementDataType),
            kv.Value.Dimensions.Select((d, i) => d >= 0
                ? (object)d
                : string.IsNullOrEmpty(kv.Value.SymbolicDimensions.ElementAtOrDefault(i)) ? "?" : kv.Value.SymbolicDimensions[i]).ToArray()))
        .ToArray();

    private static string ElementTypeName(TensorElementType type) => type switch
    {
        TensorElementType.Float => "float32",
        TensorElementType.Int64 => "int64",
        TensorElementType.Int32 => "int32",
        TensorElementType.Float16 => "float16",
        TensorElementType.BFloat16 => "bfloat16",
        _ => type.ToString().ToLowerInvariant(),
    };
}

/// <summary>One catalog model as this worker hosts it: loaded with its session, or unavailable and why.</summary>
public sealed class HostedModel
{
    public required string Id { get; init; }
    /// <summary>The catalog entry (null only for hosts built by hand in tests).</summary>
    public ModelManifest? Manifest { get; init; }
    public required ModelKind Kind { get; init; }
    public required HostedModelStatus Status { get; init; }
    /// <summary>Why the model is unavailable; null when loaded.</summary>
    public string? Reason { get; init; }
    /// <summary>
    /// True when the model should have loaded (its files are declared and it is a kind this worker runs) but did not:
    /// the worker is degraded. False for models this worker does not serve yet or that have no files by design.
    /// </summary>
    public bool IsFault { get; init; }
    public string? ExecutionProvider { get; init; }
    public double? LoadMs { get; init; }
    public IReadOnlyList<TensorDescription> Inputs { get; init; } = [];
    public IReadOnlyList<TensorDescription> Outputs { get; init; } = [];
    public int? OutputDimension { get; init; }
    /// <summary>The session, when <see cref="Kind"/> is embedding and the model loaded.</summary>
    public TextEncoderModel? TextEncoder { get; init; }
    /// <summary>Encoders, batchers and media rules of a loaded embedding model (owns the sessions).</summary>
    public Embeddings.EmbeddingEngine? Engine { get; init; }
    /// <summary>The decoder session, tokenizer and generation settings of a loaded chat model (owns the session).</summary>
    public Chat.ChatModel? Chat { get; init; }
}
