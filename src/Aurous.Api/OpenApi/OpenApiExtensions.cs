using Scalar.AspNetCore;

namespace Aurous.Api.OpenApi;

public static class OpenApiExtensions
{
    public const string DocumentPattern = "/openapi/{documentName}.json";
    public const string ReferencePath = "/docs";

    /// <summary>The OpenAPI document, with the hand-written request, answer and error schemas of every operation.</summary>
    public static IServiceCollection AddApiDocument(this IServiceCollection services) =>
        services.AddOpenApi(options =>
        {
            options.AddOperationTransformer<ApiOperationsTransformer>();
            options.AddDocumentTransformer<ApiSchemasTransformer>();
            options.AddSchemaTransformer<WrittenShapeSchemaTransformer>();
        });

    /// <summary>
    /// Serves the document at /openapi/v1.json and, in development, a readable reference page built from it at /docs
    /// (its script and styles are served by the API itself, so it works offline).
    /// </summary>
    public static WebApplication MapApiDocument(this WebApplication app)
    {
        app.MapOpenApi(DocumentPattern);
        if (app.Environment.IsDevelopment())
        {
            app.MapScalarApiReference(ReferencePath, options => options.WithTitle("Aurous API reference").WithOpenApiRoutePattern(DocumentPattern));
        }
        return app;
    }
}
