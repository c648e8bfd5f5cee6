using System.Text.Json.Serialization;
using Aurous.Accounts;

namespace Aurous.Api.Keys;

/// <summary>
/// An API key as the API returns it: never the secret, except <c>key</c> in the answers to create and rotate (the
/// only time the plaintext exists). Status is active, rotated (still accepted until <c>grace_until</c>), expired (rotated,
/// grace over) or revoked. Times are unix seconds.
/// </summary>
public sealed record ApiKeyView(
    string Object, string Id, string Name, string Hint, IReadOnlyList<string> Scopes, string Status, long CreatedAt, long? LastUsedAt,
    long? GraceUntil, string? ReplacedBy, long? RevokedAt,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Key)
{
    public static ApiKeyView From(ApiKeySummary k, DateTimeOffset now, string? plaintext = null) => new(
        "api_key", k.Id, k.Name, k.Hint, k.Scopes, k.StatusAt(now), k.CreatedAt.ToUnixTimeSeconds(), k.LastUsedAt?.ToUnixTimeSeconds(),
        k.GraceUntil?.ToUnixTimeSeconds(), k.ReplacedBy, k.RevokedAt?.ToUnixTimeSeconds(), plaintext);
}

public sealed record ApiKeyList(string Object, IReadOnlyList<ApiKeyView> Data, bool HasMore);

/// <summary>The answer to a rotation: the new key (with its secret, once) and the old one, now rotated.</summary>
public sealed record ApiKeyRotation(string Object, ApiKeyView Key, ApiKeyView Previous);
