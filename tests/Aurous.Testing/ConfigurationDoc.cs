using System.Reflection;

namespace Aurous.Testing;

/// <summary>
/// docs/configuration.md against the code: every options class (a type named <c>*Options</c> with a public
/// <c>Section</c> constant) and each of its settable properties, as the key <c>Section:Property</c> the doc must name.
/// </summary>
public static class ConfigurationDoc
{
    public static string Text { get; } = File.ReadAllText(Path.Combine(RepoRoot(), "docs", "configuration.md"));

    /// <summary>The keys the options classes of <paramref name="assemblies"/> bind, e.g. <c>Metering:HoldLifetime</c>.</summary>
    public static IReadOnlyList<string> KeysOf(params Assembly[] assemblies) =>
    [
        .. from type in assemblies.Distinct().SelectMany(a => a.GetTypes())
           where type.Name.EndsWith("Options", StringComparison.Ordinal)
           let section = type.GetField("Section", BindingFlags.Public | BindingFlags.Static)
           where section is { IsLiteral: true } && section.FieldType == typeof(string)
           from property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
           where property.SetMethod is { IsPublic: true }
           select $"{section.GetRawConstantValue()}:{property.Name}",
    ];

    /// <summary>The keys of <paramref name="assemblies"/> that docs/configuration.md does not mention (as <c>`Key`</c>).</summary>
    public static IReadOnlyList<string> Undocumented(params Assembly[] assemblies) =>
        [.. KeysOf(assemblies).Where(key => !Text.Contains($"`{key}`", StringComparison.Ordinal))];

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Aurous.sln")))
            {
                return dir.FullName;
            }
        }
        throw new DirectoryNotFoundException($"No Aurous.sln above {AppContext.BaseDirectory}.");
    }
}
