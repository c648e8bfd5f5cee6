using System.Text.Json.Serialization;

namespace Aurous.Inference.Contracts;

/// <summary>Error body of every internal endpoint: <c>{"error":{"code","message","part"}}</c>.</summary>
public sealed record InternalErrorResponse(InternalError Error);

/// <param name="Part">The 0-based index of the failing embedding part; written as <c>null</c> when no part is to blame.</param>
public sealed record InternalError(
    string Code,
    string Message,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] int? Part = null);
