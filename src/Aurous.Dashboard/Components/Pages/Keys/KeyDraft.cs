namespace Aurous.Dashboard.Components.Pages.Keys;

/// <summary>What the create-key dialog hands back: a trimmed, non-empty name and at least one known scope.</summary>
public sealed record KeyDraft(string Name, IReadOnlyList<string> Scopes)
{
    public const int MaxNameLength = 100;

    /// <summary>The message to show for <paramref name="name"/> and <paramref name="scopes"/>, or null when they make a key.</summary>
    public static string? Problem(string? name, IReadOnlyCollection<string> scopes)
    {
        if (string.IsNullOrWhiteSpace(name))
        {
            return "Give the key a name";
        }
        if (name.Trim().Length > MaxNameLength)
        {
            return $"A key name is at most {MaxNameLength} characters";
        }
        return scopes.Count == 0 ? "Choose at least one scope" : null;
    }
}
