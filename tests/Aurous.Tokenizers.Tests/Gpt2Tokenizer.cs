using Aurous.ModelForge;

namespace Aurous.Tokenizers.Tests;

/// <summary>GPT-2's tokenizer.json as ModelForge writes it, generated once per test run into a temp file.</summary>
public static class Gpt2Tokenizer
{
    private static readonly Lazy<string> JsonPath = new(() =>
    {
        var path = Path.Combine(Path.GetTempPath(), $"aurous-gpt2-tokenizer-{Environment.ProcessId}-{Guid.NewGuid():N}.json");
        File.WriteAllBytes(path, Gpt2TokenizerJson.Generate());
        AppDomain.CurrentDomain.ProcessExit += (_, _) => File.Delete(path);
        return path;
    });

    private static readonly Lazy<BpeTokenizer> Shared = new(() => BpeTokenizer.Load(JsonPath.Value));

    public static string FilePath => JsonPath.Value;

    public static BpeTokenizer Instance => Shared.Value;
}
