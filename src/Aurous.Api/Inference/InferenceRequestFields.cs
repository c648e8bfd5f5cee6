using Aurous.Models;

namespace Aurous.Api.Inference;

/// <summary>
/// The checks every inference body shares, so each endpoint answers them with the same codes and words: a JSON object
/// of known fields, a model of the endpoint's kind, the end user, and a model this deployment has not installed.
/// </summary>
public static class InferenceRequestFields
{
    /// <summary>The body is an object (else <c>invalid_request_body</c>) whose every field is known and served.</summary>
    public static ApiError? KnownObject(JsonElement body, IReadOnlySet<string> known, IReadOnlySet<string>? notYetSupported = null) =>
        body.ValueKind != JsonValueKind.Object
            ? ApiError.InvalidRequest("invalid_request_body", "The request body must be a JSON object.")
            : JsonFields.UnknownField(body, known, notYetSupported);

    /// <summary>The required <c>model</c> field, resolved through the catalog, of the <paramref name="kind"/> POST <paramref name="route"/> serves.</summary>
    public static ApiError? RequiredModel(
        JsonElement body, ModelCatalog catalog, ModelKind kind, string route, string hint, out string requested, out CatalogModel model)
    {
        model = null!;
        return JsonFields.RequiredString(body, "model", hint, out requested) ?? Model(requested, catalog, kind, route, out model);
    }

    /// <summary>The model <paramref name="requested"/> by id or alias: 404 when there is none, 400 when it is of another kind.</summary>
    public static ApiError? Model(string requested, ModelCatalog catalog, ModelKind kind, string route, out CatalogModel model)
    {
        if (!catalog.TryResolve(requested, out model))
        {
            return ModelNotFound(requested);
        }
        var manifest = model.Manifest;
        return manifest.Kind == kind
            ? null
            : ApiError.InvalidRequest("model_not_supported",
                $"Model {manifest.Id} is a {Lower(manifest.Kind)} model; POST {route} needs a {Lower(kind)} model.");
    }

    public static ApiError ModelNotFound(string requested) =>
        ApiError.NotFound("model_not_found", $"The model '{requested}' does not exist. GET /v1/models lists the available models.");

    /// <summary>The model's tokenizer (or its weights) is not on this deployment: 503, for the client to retry.</summary>
    public static ApiError ModelNotInstalled(ModelManifest manifest) =>
        new(503, "api_error", "model_unavailable", $"Model {manifest.Id} is not installed on this deployment. Retry shortly.");

    /// <summary>The optional <c>user</c> field: the end user's id, at most 256 printable characters.</summary>
    public static ApiError? User(JsonElement body, out string? user)
    {
        if (JsonFields.OptionalString(body, "user", out user) is { } typeError)
        {
            return typeError;
        }
        return user is not null && (user.Length > 256 || user.Any(char.IsControl))
            ? ApiError.InvalidRequest("invalid_user", "'user' must be a string of at most 256 printable characters.")
            : null;
    }

    private static string Lower(ModelKind kind) => kind.ToString().ToLowerInvariant();
}
