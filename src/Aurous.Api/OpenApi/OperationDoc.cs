namespace Aurous.Api.OpenApi;

/// <summary>One success answer of an operation: its status, and per content type the component that describes it.</summary>
/// <param name="Content">Content type to component id; a null id is raw bytes.</param>
internal sealed record SuccessDoc(int Status, string Description, IReadOnlyDictionary<string, string?> Content)
{
    public static SuccessDoc Json(int status, string description, string schema) =>
        new(status, description, new Dictionary<string, string?> { ["application/json"] = schema });
}

/// <summary>
/// What the document says of one operation, found by its endpoint name (<c>WithName</c>): its summary where the
/// endpoint has none, its request body, its success answers (null: the ones its typed results already describe), and
/// every error code it can answer with.
/// </summary>
internal sealed record OperationDoc(
    string Name, string? Request, IReadOnlyList<SuccessDoc>? Success, IReadOnlyList<string> Errors, string? Summary = null);
