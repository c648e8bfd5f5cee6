using Aurous.Inference.Contracts;
using Aurous.InferenceWorker.Models;

namespace Aurous.InferenceWorker.Info;

/// <summary><c>GET /internal/models</c>: the loaded models with their nominal and served context windows, for the API.</summary>
public static class InternalModelsEndpoint
{
    public static IEndpointRouteBuilder MapInternalModels(this IEndpointRouteBuilder app)
    {
        app.MapGet(InternalRoutes.Models, (ModelHost host) => Results.Json(List(host), InternalJson.Options))
            .WithName("InternalModels").ExcludeFromDescription();
        return app;
    }

    /// <summary>Loaded models only: one that is loading or unavailable has no window to serve yet.</summary>
    public static InternalModelList List(ModelHost host) => new(host.Models
        .Where(m => m.Status == HostedModelStatus.Loaded && m.Manifest is not null)
        .Select(m => new InternalModelInfo(m.Id, m.Manifest!.ContextWindow, m.Chat?.ServedContextWindow ?? m.Manifest.ContextWindow))
        .ToArray());
}
