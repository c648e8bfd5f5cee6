namespace Aurous.Inference.Contracts;

/// <summary>
/// The shared secret the API presents on every call under <see cref="InternalRoutes.Prefix"/>, as
/// <c>Authorization: Bearer &lt;key&gt;</c>. Both sides read it from <see cref="ConfigurationKey"/> (env <c>InternalApi__Key</c>).
/// </summary>
public sealed class InternalApiKeyOptions
{
    public const string Section = "InternalApi";
    public const string ConfigurationKey = Section + ":Key";
    /// <summary>Short keys are guessable; the AppHost generates 32 random bytes.</summary>
    public const int MinimumLength = 16;
    public const string Scheme = "Bearer";

    public string? Key { get; set; }

    public static bool IsUsable(string? key) => key is { Length: >= MinimumLength } && !string.IsNullOrWhiteSpace(key);

    public static string Requirement =>
        $"{ConfigurationKey} (env InternalApi__Key) must be set to a secret of at least {MinimumLength} characters shared by the API and the InferenceWorker";
}
