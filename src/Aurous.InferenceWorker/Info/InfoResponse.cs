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
    IReadOnlyList<InfoModel> Models)
{
    public static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    public static InfoResponse From(ModelHost host) => new(
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
            m.Outputs.Select(InfoTensor.From).ToArray())).ToArray());
}

public sealed record InfoModel(
    string Id,
    string Kind,
    string Status,
    string? Reason,
    string? ExecutionProvider,
    double? LoadMs,
    int? OutputDimension,
    IReadOnlyList<InfoTensor> Inputs,
    IReadOnlyList<InfoTensor> Outputs);

/// <summary>A model input or output; <c>shape</c> mixes numbers and symbolic names, e.g. <c>["batch", 2048]</c>.</summary>
public sealed record InfoTensor(string Name, string Type, IReadOnlyList<object> Shape)
{
    public static InfoTensor From(TensorDescription t) => new(t.Name, t.ElementType, t.Shape);
}
