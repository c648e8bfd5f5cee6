using System.Text.Json;

namespace Aurous.Tokenizers;

/// <summary>What a Hugging Face <c>tokenizer.json</c> says about a byte-level BPE tokenizer.</summary>
internal sealed record TokenizerDefinition(
    Dictionary<string, int> Vocab,
    IReadOnlyList<(string Left, string Right)> Merges,
    IReadOnlyList<BpeTokenizer.AddedToken> AddedTokens,
    bool AddPrefixSpace)
{
    /// <summary>
    /// Reads <c>model</c> (type "BPE": <c>vocab</c>, <c>merges</c> in either format), <c>added_tokens</c> and the
    /// <c>ByteLevel</c> pre-tokenizer; throws <see cref="InvalidDataException"/> for what this tokenizer cannot serve.
    /// </summary>
    public static TokenizerDefinition Read(Stream tokenizerJson)
    {
        using var document = JsonDocument.Parse(tokenizerJson, new JsonDocumentOptions { MaxDepth = 256 });
        var root = document.RootElement;
        var model = root.GetProperty("model");
        if (model.TryGetProperty("type", out var type) && type.GetString() != "BPE")
        {
            throw new InvalidDataException($"model.type is '{type.GetString()}'; only 'BPE' is supported.");
        }

        var vocabElement = model.GetProperty("vocab");
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var entry in vocabElement.EnumerateObject())
        {
            vocab[entry.Name] = entry.Value.GetInt32();
        }

        var merges = new List<(string, string)>();
        foreach (var merge in model.GetProperty("merges").EnumerateArray())
        {
            if (merge.ValueKind == JsonValueKind.String)
            {
                // Older format: "left right" (neither side contains a space in byte-level vocabularies).
                var text = merge.GetString()!;
                var space = text.IndexOf(' ', 1);
                if (space < 0)
                {
                    throw new InvalidDataException($"merge '{text}' is not of the form 'left right'.");
                }
                merges.Add((text[..space], text[(space + 1)..]));
            }
            else
            {
                // Newer format: ["left", "right"].
                merges.Add((merge[0].GetString()!, merge[1].GetString()!));
            }
        }

        var added = new List<BpeTokenizer.AddedToken>();
        if (root.TryGetProperty("added_tokens", out var addedElement) && addedElement.ValueKind == JsonValueKind.Array)
        {
            foreach (var token in addedElement.EnumerateArray())
            {
                added.Add(new BpeTokenizer.AddedToken(
                    token.GetProperty("id").GetInt32(),
                    token.GetProperty("content").GetString()!,
                    token.TryGetProperty("special", out var special) && special.ValueKind == JsonValueKind.True));
            }
        }

        var addPrefixSpace = false;
        if (root.TryGetProperty("pre_tokenizer", out var pre) && pre.ValueKind == JsonValueKind.Object)
        {
            var preType = pre.GetProperty("type").GetString();
            if (preType != "ByteLevel")
            {
                throw new InvalidDataException($"pre_tokenizer.type is '{preType}'; only 'ByteLevel' (the GPT-2 split) is supported.");
            }
            if (pre.TryGetProperty("use_regex", out var useRegex) && useRegex.ValueKind == JsonValueKind.False)
            {
                throw new InvalidDataException("pre_tokenizer ByteLevel with use_regex=false is not supported.");
            }
            addPrefixSpace = pre.TryGetProperty("add_prefix_space", out var prefix) && prefix.ValueKind == JsonValueKind.True;
        }
        else
        {
            throw new InvalidDataException("pre_tokenizer is missing; a ByteLevel pre-tokenizer is required.");
        }
        if (root.TryGetProperty("normalizer", out var normalizer) && normalizer.ValueKind != JsonValueKind.Null)
        {
            throw new InvalidDataException("normalizers are not supported (byte-level BPE tokenizers have none).");
        }
        return new TokenizerDefinition(vocab, merges, added, addPrefixSpace);
    }
}
