using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Aurous.Api.OpenApi;

/// <summary>
/// Describes each operation from its <see cref="OperationDoc"/>, found by endpoint name: the request body, the success
/// answers, and one response per error status, in the error envelope, naming the codes the operation can answer with.
/// </summary>
internal sealed class ApiOperationsTransformer : IOpenApiOperationTransformer
{
    private static readonly Dictionary<string, OperationDoc> Docs =
        new[] { ChatSchemas.Operations(), EmbeddingSchemas.Operations(), ModelSchemas.Operations(), GenerationSchemas.Operations(), ManagementSchemas.Operations() }
            .SelectMany(d => d)
            .ToDictionary(d => d.Name, StringComparer.Ordinal);

    public Task TransformAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        if (operation.OperationId is not { } name || !Docs.TryGetValue(name, out var doc))
        {
            return Task.CompletedTask;
        }
        if (HttpMethods.IsHead(context.Description.HttpMethod ?? ""))
        {
            // GET and HEAD share one endpoint and its name; operation ids must be unique in the document.
            operation.OperationId = name + "Head";
        }
        var set = new SchemaSet(context.Document!);
        if (string.IsNullOrWhiteSpace(operation.Summary))
        {
            operation.Summary = doc.Summary;
        }
        if (doc.Request is { } request)
        {
            operation.RequestBody = new OpenApiRequestBody
            {
                Required = true,
                Content = new Dictionary<string, OpenApiMediaType> { ["application/json"] = new() { Schema = set.Ref(request) } },
            };
        }
        operation.Responses ??= [];
        if (doc.Success is { } success)
        {
            foreach (var answer in success)
            {
                operation.Responses[answer.Status.ToString(System.Globalization.CultureInfo.InvariantCulture)] = new OpenApiResponse
                {
                    Description = answer.Description,
                    Content = answer.Content.ToDictionary(c => c.Key, c => new OpenApiMediaType { Schema = c.Value is null ? SchemaSet.Binary() : set.Ref(c.Value) }),
                };
            }
        }
        foreach (var status in operation.Responses.Keys.Where(k => k.Length == 3 && k[0] is '4' or '5').ToList())
        {
            operation.Responses.Remove(status);
        }
        foreach (var codes in ErrorCatalog.ByStatus(doc.Errors))
        {
            operation.Responses[codes.Key.ToString(System.Globalization.CultureInfo.InvariantCulture)] = new OpenApiResponse
            {
                Description = "Error codes: " + string.Join(", ", codes) + ".",
                Content = new Dictionary<string, OpenApiMediaType> { ["application/json"] = new() { Schema = set.Ref(CommonSchemas.Error) } },
            };
        }
        return Task.CompletedTask;
    }
}
