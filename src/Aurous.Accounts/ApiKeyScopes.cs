namespace Aurous.Accounts;

/// <summary>What an API key may do. Inference scopes open one family of endpoints each; the management scopes open the
/// team's own administration over REST (keys and webhook endpoints), read-only or read and write.</summary>
public static class ApiKeyScopes
{
    public const string Chat = "chat";
    public const string Embeddings = "embeddings";
    public const string Images = "images";
    public const string Videos = "videos";
    public const string ManagementRead = "management:read";
    public const string ManagementWrite = "management:write";

    /// <summary>Every scope, in the order the dashboard lists them.</summary>
    public static readonly IReadOnlyList<string> All = [Chat, Embeddings, Images, Videos, ManagementRead, ManagementWrite];

    /// <summary>What a new key gets when its creator does not choose: the inference endpoints, no administration.</summary>
    public static readonly IReadOnlyList<string> Inference = [Chat, Embeddings, Images, Videos];

    public static string Describe(string scope) => scope switch
    {
        Chat => "Chat completions",
        Embeddings => "Embeddings",
        Images => "Image generation",
        Videos => "Video generation",
        ManagementRead => "Management, read-only (keys, webhooks)",
        ManagementWrite => "Management (create, rotate and revoke keys; manage webhooks)",
        _ => scope,
    };

    public static bool IsKnown(string scope) => All.Contains(scope);

    /// <summary>Write implies read: a key with management:write passes a management:read check.</summary>
    public static bool Grants(IReadOnlyCollection<string> held, string required) =>
        held.Contains(required) || (required == ManagementRead && held.Contains(ManagementWrite));

    /// <summary>Known scopes, without duplicates, in canonical order.</summary>
    public static string[] Normalize(IEnumerable<string> scopes)
    {
        var set = scopes.ToHashSet(StringComparer.Ordinal);
        return All.Where(set.Contains).ToArray();
    }
}
