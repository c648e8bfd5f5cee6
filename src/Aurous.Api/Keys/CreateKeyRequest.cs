using Aurous.Accounts;

namespace Aurous.Api.Keys;

/// <summary>The body of POST /v1/keys: <c>{name, scopes?}</c>. Without scopes a key gets the inference scopes.</summary>
public sealed record CreateKeyRequest(string Name, string[] Scopes)
{
    private static readonly HashSet<string> Known = ["name", "scopes"];

    public static (CreateKeyRequest? Request, ApiError? Error) Parse(JsonElement body)
    {
        if (JsonFields.KnownObject(body, Known) is { } bodyError)
        {
            return (null, bodyError);
        }
        if (JsonFields.RequiredString(body, "name", "Give the key a name, such as the service that will use it.", out var raw) is { } nameError)
        {
            return (null, nameError);
        }
        var name = raw.Trim();
        if (name.Length == 0)
        {
            return (null, JsonFields.Missing("name", "Give the key a name, such as the service that will use it."));
        }
        if (name.Length > ApiKeyStore.MaxNameLength)
        {
            return (null, ApiError.InvalidRequest("name_too_long", $"'name' is limited to {ApiKeyStore.MaxNameLength} characters."));
        }
        var (scopes, scopesError) = ParseScopes(body);
        return scopesError is not null ? (null, scopesError) : (new CreateKeyRequest(name, scopes!), null);
    }

    private static (string[]? Scopes, ApiError? Error) ParseScopes(JsonElement body)
    {
        if (!JsonFields.TryGet(body, "scopes", out var array))
        {
            return ([.. ApiKeyScopes.Inference], null);
        }
        if (array.ValueKind != JsonValueKind.Array)
        {
            return (null, JsonFields.InvalidType("scopes", "an array of strings", array));
        }
        var scopes = new List<string>();
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String)
            {
                return (null, JsonFields.InvalidType("scopes[]", "a string", item));
            }
            var scope = item.GetString()!;
            if (!ApiKeyScopes.IsKnown(scope))
            {
                return (null, ApiError.InvalidRequest("invalid_scope", $"Unknown scope '{scope}'. Scopes are: {string.Join(", ", ApiKeyScopes.All)}."));
            }
            scopes.Add(scope);
        }
        if (scopes.Count == 0)
        {
            return (null, ApiError.InvalidRequest("invalid_scope", $"A key needs at least one scope, from: {string.Join(", ", ApiKeyScopes.All)}."));
        }
        return (ApiKeyScopes.Normalize(scopes), null);
    }
}
