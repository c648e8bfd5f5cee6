using Aurous.Api.Inference;
using Aurous.Models;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Aurous.Api.Models;

/// <summary>GET /v1/models and GET /v1/models/{id}: OpenAI's model rows plus <c>kind</c> and <c>aurous_metadata</c>, from the catalog.</summary>
public static class ModelsApi
{
    public static RouteGroupBuilder MapModelsApi(this RouteGroupBuilder v1)
    {
        var group = v1.MapGroup("/models").WithTags("Models");
        group.MapGet("/", List).WithName("ListModels").WithSummary("Lists the models this deployment serves.");
        group.MapGet("/{id}", Get).WithName("GetModel").WithSummary("Returns one model by id or alias.");
        return group;
    }

    private static async Task<Ok<ModelList>> List(ModelCatalog catalog, ServedContextWindows served, HttpContext context)
    {
        var rows = new List<ModelRow>(catalog.Models.Count);
        foreach (var model in catalog.Models)
        {
            rows.Add(ModelRow.From(model, await served.GetAsync(model.Manifest.Id, context.RequestAborted)));
        }
        return TypedResults.Ok(new ModelList("list", rows));
    }

    private static async Task<IResult> Get(string id, ModelCatalog catalog, ServedContextWindows served, HttpContext context) =>
        catalog.TryResolve(id, out var model)
            ? TypedResults.Ok(ModelRow.From(model, await served.GetAsync(model.Manifest.Id, context.RequestAborted)))
            : InferenceRequestFields.ModelNotFound(id).ToResult(context);
}

public sealed record ModelList(string Object, IReadOnlyList<ModelRow> Data);

public sealed record ModelRow(string Id, string Object, long Created, string OwnedBy, string Kind, AurousModelMetadata AurousMetadata)
{
    /// <param name="servedContextWindow">What the inference worker serves (null: it has not said: not running, or the model not loaded).</param>
    public static ModelRow From(CatalogModel model, int? servedContextWindow = null)
    {
        var m = model.Manifest;
        return new ModelRow(m.Id, "model", m.Created, m.OwnedBy, m.Kind.ToString().ToLowerInvariant(),
            new AurousModelMetadata(m.ContextWindow, servedContextWindow, m.Dimensions, m.MaxInputItems, m.Capabilities, m.Aliases,
                new CreditRateCard("credits_per_1m_tokens", m.CreditRates.Input, m.CreditRates.Output)));
    }
}

/// <param name="ContextWindow">The model's nominal context window.</param>
/// <param name="ServedContextWindow">
/// The longest request (prompt + max_tokens) this deployment serves now: the nominal window, or less where the
/// inference worker's memory budget cannot hold a generation that long; null while the worker has not reported it.
/// </param>
public sealed record AurousModelMetadata(
    int ContextWindow, int? ServedContextWindow, IReadOnlyList<int>? Dimensions, int? MaxInputItems, IReadOnlyList<string> Capabilities,
    IReadOnlyList<string> Aliases, CreditRateCard CreditRates);

public sealed record CreditRateCard(string Unit, IReadOnlyDictionary<string, decimal> Input, IReadOnlyDictionary<string, decimal> Output);
