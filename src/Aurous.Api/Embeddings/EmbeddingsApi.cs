using Aurous.Api.Inference;
using Aurous.Api.Metering;
using Aurous.Inference.Contracts;
using Aurous.Models;

namespace Aurous.Api.Embeddings;

/// <summary>POST /v1/embeddings (one combined vector for text, image and video parts) and its free estimate.</summary>
public static class EmbeddingsApi
{
    public const string Scope = "embeddings";

    public static RouteGroupBuilder MapEmbeddingsApi(this RouteGroupBuilder v1)
    {
        var group = v1.MapGroup("/embeddings").WithTags("Embeddings").RequireScope(Scope).MetersTokens();
        group.MapPost("/", Create).WithName("CreateEmbedding")
            .WithSummary("Embeds a string, or text + image + video parts, into one vector.")
            .Accepts<JsonElement>("application/json");
        group.MapPost("/estimate", Estimate).WithName("EstimateEmbedding")
            .WithSummary("Returns the usage and credits a request would cost, without the vector and without charging.")
            .Accepts<JsonElement>("application/json");
        return group;
    }

    private static async Task<IResult> Create(
        HttpContext context, ModelCatalog catalog, ModelTokenizers tokenizers, MeteringPipeline metering, InferenceWorkerClient worker)
    {
        var (body, request, error) = await ReadAsync(context, catalog, tokenizers);
        if (error is not null)
        {
            return error.ToResult(context);
        }

        var manifest = request!.Model.Manifest;
        var (admitted, ended) = await metering.AdmitAsync(context, new AdmissionRequest(
            "embeddings", request.Model, request.Estimate.PromptTokens, Pricing.Price(manifest, request.Estimate).Total, body, request.User));
        if (ended is not null)
        {
            return ended;
        }
        await using var metered = admitted!;

        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var (embedding, workerError) = await worker.EmbedAsync(new InternalEmbeddingRequest { Model = manifest.Id, Parts = request.Parts }, context.RequestAborted);
        RequestContext.Of(context).Time("inference", started);
        if (workerError is not null)
        {
            return await metered.FailAsync(workerError);
        }
        var usage = new TokenUsage(embedding!.Usage.TextTokens, embedding.Usage.ImageTokens, embedding.Usage.VideoTokens);
        return await metered.CompleteAsync(usage, charge => EmbeddingResponseWriter.Render(request.RequestedModel, embedding, UsageBlock.For(request.RequestedModel, usage, charge)));
    }

    private static async Task<IResult> Estimate(HttpContext context, ModelCatalog catalog, ModelTokenizers tokenizers)
    {
        var (_, request, error) = await ReadAsync(context, catalog, tokenizers);
        if (error is not null)
        {
            return error.ToResult(context);
        }
        var usage = UsageBlock.For(request!.RequestedModel, request.Estimate, Pricing.Price(request.Model.Manifest, request.Estimate));
        return new RawJsonResult(EmbeddingResponseWriter.Render(request.RequestedModel, null, usage), "application/json");
    }

    private static async Task<(JsonElement Body, EmbeddingRequest? Request, ApiError? Error)> ReadAsync(
        HttpContext context, ModelCatalog catalog, ModelTokenizers tokenizers)
    {
        var (body, bodyError) = await JsonBody.ReadAsync(context);
        if (bodyError is not null)
        {
            return (body, null, bodyError);
        }
        var (request, error) = EmbeddingRequest.Parse(body, catalog, tokenizers);
        return (body, request, error);
    }
}
