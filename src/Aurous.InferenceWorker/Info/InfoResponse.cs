using System.Text.Json;
using System.Text.Json.Serialization;
using Aurous.InferenceWorker.Models;

namespace Aurous.InferenceWorker.Info;

/// <summary>The body of <c>GET /v1/info</c>: what this worker runs, on which ONNX Runtime and execution provider.</summary>
public sealed record InfoResponse(
    string Status,
    string? Reason,
    string? OnnxruntimeVersion,
    string RequestedProvider,
    string? ExecutionProvider,
    string? ProviderNote,
    IReadOnlyList<string> AvailableProviders,
    string? ModelsDirectory,
    IReadOnlyList<InfoModel> Models,
    InfoChatMemory? ChatMemory = null)
{
    public static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    public static InfoResponse From(ModelHost host, Chat.MemoryAdmission? memory = null) => new(
        Status: host.State.ToString().ToLowerInvariant(),
        Reason: host.FailureReason,
        OnnxruntimeVersion: host.OnnxRuntimeVersion,
        RequestedProvider: host.RequestedProvider.ToString().ToLowerInvariant(),
        ExecutionProvider: host.ExecutionProvider,
        ProviderNote: host.ProviderNote,
        AvailableProviders: host.AvailableProviders,
        ModelsDirectory: host.ModelsDirectory,
        Models: host.Models.Select(m => new InfoModel(
            m.Id,
            m.Kind.ToString().ToLowerInvariant(),
            m.Status.ToString().ToLowerInvariant(),
            m.Reason,
            m.ExecutionProvider,
            m.LoadMs,
            m.OutputDimension,
            m.Inputs.Select(InfoTensor.From).ToArray(),
            m.Outputs.Select(InfoTensor.From).ToArray(),
            m.Manifest?.ContextWindow,
            m.Status == HostedModelStatus.Loaded ? m.Chat?.ServedContextWindow ?? m.Manifest?.ContextWindow : null,
            m.Chat?.MemoryPlan is { } plan ? new InfoMemoryPlan(plan.KvBytesPerToken, plan.PrefillChunkTokens, plan.RequestBytes(plan.ServedContextWindow, plan.ServedContextWindow)) : null))
            .ToArray(),
        memory is null ? null : new InfoChatMemory(memory.CapacityBytes, memory.ReservedBytes, memory.Waiting));
}

/// <summary>The chat memory budget (<c>Inference:MemoryBudgetMb</c>): reserved by the generations in flight, and how many wait for it.</summary>
public sealed record InfoChatMemory(long BudgetBytes, long ReservedBytes, int Waiting);

/// <summary>A chat model's memory plan: KV cache per token, prefill chunk, and the peak of a generation as long as the served window.</summary>
public sealed record InfoMemoryPlan(long KvCacheBytesPerToken, int PrefillChunkTokens, long LongestRequestBytes);

public sealed record InfoModel(
    string Id,
    string Kind,
    string Status,
    string? Reason,
    string? ExecutionProvider,
    double? LoadMs,
    int? OutputDimension,
    IReadOnlyList<InfoTensor> Inputs,
    IReadOnlyList<InfoTensor> Outputs,
    int? ContextWindow = null,
    int? ServedContextWindow = null,
    InfoMemoryPlan? Memory = null);

/// <summary>A model input or output; <c>shape</c> mixes numbers and symbolic names, e.g. <c>["batch", 2048]</c>.</summary>
public sealed record InfoTensor(string Name, string Type, IReadOnlyList<object> Shape)
{
    public static InfoTensor From(TensorDescription t) => new(t.Name, t.ElementType, t.Shape);
}
