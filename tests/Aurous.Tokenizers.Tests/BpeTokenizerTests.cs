using System.Diagnostics;
using System.Reflection;
using System.Text;
using System.Text.Json;
using Aurous.ModelForge;

namespace Aurous.Tokenizers.Tests;

public sealed class BpeTokenizerTests
{
    private static BpeTokenizer Tokenizer => Gpt2Tokenizer.Instance;

    [Theory]
    [InlineData("Hello world", new[] { 15496, 995 })]
    [InlineData(" the", new[] { 262 })]
    [InlineData("", new int[0])]
    [InlineData("I've been there, don't you   know?\n\n  x", new[] { 40, 1053, 587, 612, 11, 836, 470, 345, 220, 220, 760, 30, 628, 220, 2124 })]
    [InlineData("  leading\tand\r\n trailing  ", new[] { 220, 3756, 197, 392, 201, 198, 25462, 220, 220 })]
    [InlineData("Ünïcödé 日本語 😀🎉 👩‍👩‍👧", new[] { 127, 250, 77, 26884, 66, 9101, 67, 2634, 10545, 245, 98, 17312, 105, 45739, 252, 30325, 222, 8582, 236, 231, 50169, 102, 447, 235, 41840, 102, 447, 235, 41840, 100 })]
    public void Encodes_to_the_known_GPT2_ids(string text, int[] expected)
    {
        Tokenizer.Encode(text).ShouldBe(expected);
        Tokenizer.CountTokens(text).ShouldBe(expected.Length);
    }

    [Fact]
    public void Special_tokens_are_matched_in_the_text_as_Hugging_Face_does()
    {
        Tokenizer.Encode("Hello<|endoftext|> world").ShouldBe([15496, Gpt2TokenizerJson.EndOfTextId, 995]);
        Tokenizer.Decode([15496, Gpt2TokenizerJson.EndOfTextId, 995]).ShouldBe("Hello<|endoftext|> world");
        Tokenizer.VocabSize.ShouldBe(Gpt2TokenizerJson.VocabularySize);
        Tokenizer.TryGetTokenId("<|endoftext|>", out var id).ShouldBeTrue();
        id.ShouldBe(50256);
    }

    [Fact]
    public void Ordinary_encoding_spells_special_tokens_out_as_text()
    {
        var ids = Tokenizer.EncodeOrdinary("Hello<|endoftext|> world");
        ids.ShouldNotContain(Gpt2TokenizerJson.EndOfTextId);
        ids.Length.ShouldBeGreaterThan(3);
        Tokenizer.Decode(ids).ShouldBe("Hello<|endoftext|> world");
        // Without added tokens in the text, both encodings agree.
        Tokenizer.EncodeOrdinary("Hello world").ShouldBe(Tokenizer.Encode("Hello world"));
    }

    [Theory]
    [InlineData("Hello world")]
    [InlineData("Ünïcödé, 日本語のテキスト, Ελληνικά, русский, العربية, עברית, हिन्दी")]
    [InlineData("emoji 😀🎉 👩‍👩‍👧 🏳️‍🌈 and astral letters 𝐀𝐁𝐂 𠜎")]
    [InlineData("tabs\tnewlines\n\n\r\nnbsp\u00A0ideographic\u3000space   ")]
    [InlineData("combining e\u0301 and zero-width\u200Bjoiner")]
    public void Decode_of_Encode_round_trips(string text) =>
        Tokenizer.Decode(Tokenizer.Encode(text)).ShouldBe(text);

    [Fact]
    public void Unknown_ids_are_rejected_by_Decode() =>
        Should.Throw<ArgumentOutOfRangeException>(() => Tokenizer.Decode([50257]));

    [Fact]
    public void Matches_the_reference_JavaScript_encoder_on_a_random_corpus()
    {
        var corpus = RandomCorpus(seed: 7, count: 400);
        var expected = ReferenceEncode(corpus);

        for (var i = 0; i < corpus.Count; i++)
        {
            Tokenizer.Encode(corpus[i]).ShouldBe(expected[i], $"text #{i}: {JsonSerializer.Serialize(corpus[i])}");
        }
    }

    [Fact]
    public void Pathological_inputs_round_trip()
    {
        // One 200k-letter "word" (naive BPE is quadratic on it), a 200k whitespace run and 100k apostrophes. How fast
        // they go is the heap merge's business (n log n); what the tokenizer promises is valid ids that decode back.
        string[] inputs = [new('a', 200_000), new(' ', 200_000), string.Concat(Enumerable.Repeat("'s", 50_000)), string.Concat(Enumerable.Repeat("ab1!", 50_000))];
        foreach (var input in inputs)
        {
            var ids = Tokenizer.Encode(input);
            ids.ShouldAllBe(id => id >= 0 && id < Tokenizer.VocabSize);
            Tokenizer.CountTokens(input).ShouldBe(ids.Length);
            Tokenizer.Decode(ids).ShouldBe(input);
        }
    }

    [Fact]
    public void Is_thread_safe_under_concurrent_use_and_cache_eviction()
    {
        var tokenizer = BpeTokenizer.Load(Gpt2Tokenizer.FilePath, cacheCapacity: 50); // tiny cache: constant evictions
        var corpus = RandomCorpus(seed: 11, count: 200);
        var expected = corpus.Select(Tokenizer.Encode).ToArray();

        Parallel.For(0, 4_000, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
        {
            var k = i % corpus.Count;
            tokenizer.Encode(corpus[k]).ShouldBe(expected[k]);
            tokenizer.CountTokens(corpus[k]).ShouldBe(expected[k].Length);
        });
    }

    [Fact]
    public void Rejects_tokenizers_it_cannot_serve()
    {
        var path = Path.Combine(Path.GetTempPath(), $"aurous-bad-tokenizer-{Guid.NewGuid():N}.json");
        try
        {
            File.WriteAllText(path, """{"model":{"type":"WordPiece","vocab":{}},"pre_tokenizer":{"type":"BertPreTokenizer"}}""");
            Should.Throw<InvalidDataException>(() => BpeTokenizer.Load(path)).Message.ShouldContain("WordPiece");
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>Strings that exercise the split: words, contractions, digits, punctuation, every kind of space, scripts, emoji.</summary>
    internal static List<string> RandomCorpus(int seed, int count)
    {
        string[] atoms =
        [
            "the", "The", "quick", "brown", "fox", "ÉCOLE", "naïve", "straße", "日本", "語", "Привет", "مرحبا", "שלום", "नमस्ते", "𝐀𝐁", "𠜎",
            "'s", "'S", "'t", "'re", "'ve", "'m", "'ll", "'d", "'x", "'", "\"", "don't", "it's",
            "0", "42", "3.14159", "1,000", "٣", "Ⅻ", "½",
            ".", ",", "!", "?", "...", "--", "(", ")", "[]", "{}", "<|", "|>", "#", "@", "$", "%", "&&", "=>", "/*", "*/", "_", "~",
            " ", " ", " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n", "\u00A0", "\u3000", "\u2028", "\u200B",
            "😀", "🎉", "👩‍👩‍👧", "🏳️‍🌈", "e\u0301", "\u0301",
        ];
        var random = new Random(seed);
        var corpus = new List<string>(count);
        for (var i = 0; i < count; i++)
        {
            var builder = new StringBuilder();
            var parts = random.Next(1, 24);
            for (var p = 0; p < parts; p++)
            {
                builder.Append(atoms[random.Next(atoms.Length)]);
            }
            corpus.Add(builder.ToString());
        }
        return corpus;
    }

    /// <summary>Runs OpenAI's GPT-2 encoder as published in npm (gpt-3-encoder, JavaScript) on the corpus.</summary>
    private static List<int[]> ReferenceEncode(IReadOnlyList<string> corpus)
    {
        var module = typeof(BpeTokenizerTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "AurousGpt2EncoderJs").Value!;
        Directory.Exists(module).ShouldBeTrue($"{module} is missing: run eng/bootstrap.sh");
        var script = $$"""
            const { encode } = require({{JsonSerializer.Serialize(module)}});
            let input = '';
            process.stdin.on('data', d => input += d);
            process.stdin.on('end', () => process.stdout.write(JSON.stringify(JSON.parse(input).map(s => encode(s)))));
            """;
        var start = new ProcessStartInfo("node", ["-e", script])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardInputEncoding = new UTF8Encoding(false),
            StandardOutputEncoding = Encoding.UTF8,
        };
        using var process = Process.Start(start)!;
        process.StandardInput.Write(JsonSerializer.Serialize(corpus));
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEnd();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        process.ExitCode.ShouldBe(0, error);
        return JsonSerializer.Deserialize<List<int[]>>(output)!;
    }
}
