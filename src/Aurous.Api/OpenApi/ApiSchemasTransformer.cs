using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Aurous.Api.OpenApi;

/// <summary>
/// Adds the hand-written component schemas to the document, and drops the ones generated from types they replace: the
/// envelope of the endpoints' <c>ProducesErrors</c> metadata (every error response refers to
/// <see cref="CommonSchemas.Error"/>), and the model, LoRA and balance records, described by hand from the product documents.
/// </summary>
internal sealed class ApiSchemasTransformer : IOpenApiDocumentTransformer
{
    private static readonly string[] Replaced =
        ["ErrorEnvelope", "ErrorBody", "BalanceResponse", "ModelRow", "AurousModelMetadata", "CreditRateCard", "LoraRow", "JsonElement"];

    public Task TransformAsync(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken cancellationToken)
    {
        var set = new SchemaSet(document);
        CommonSchemas.AddTo(set);
        ChatSchemas.AddTo(set);
        EmbeddingSchemas.AddTo(set);
        ModelSchemas.AddTo(set);
        GenerationSchemas.AddTo(set);
        ManagementSchemas.AddTo(set);
        foreach (var id in Replaced)
        {
            document.Components?.Schemas?.Remove(id);
        }
        return Task.CompletedTask;
    }
}
