namespace Aurous.MigrationService;

/// <summary>
/// Section <c>DevSeed</c>: where a local run wants the development team's API key written. Empty (the default, and
/// always when published): the schema is applied and nothing is seeded.
/// </summary>
public sealed class DevSeedOptions
{
    public const string Section = "DevSeed";

    public string? KeyFile { get; set; }

    public static bool IsValid(DevSeedOptions options) =>
        string.IsNullOrWhiteSpace(options.KeyFile) || Path.IsPathFullyQualified(options.KeyFile);
}
