using System.Security.Cryptography;
using System.Text.Json;
using Aurous.ModelForge;
using Aurous.Models;
using Aurous.Tokenizers;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Xunit.Abstractions;

namespace Aurous.InferenceWorker.Tests;

/// <summary>
/// The tiny decoder-only chat model (<see cref="TinyDecoderV1"/>), checked against ONNX Runtime: signature, KV cache
/// consistency, left-padded batches, determinism, config files and a plain greedy generation loop.
/// </summary>
public sealed class TinyDecoderTests(ITestOutputHelper output)
{
    private static readonly ModelManifest Manifest = new()
    {
        Id = "test-chat",
        Kind = ModelKind.Chat,
        ContextWindow = 256_000,
        CreditRates = new CreditRates(),
        Generator = TinyDecoderV1.GeneratorName,
    };

    private static readonly Lazy<byte[]> DecoderBytes = new(() => new TinyDecoderV1().Generate(Manifest, TinyDecoder.DecoderRole));
    private static readonly Lazy<BpeTokenizer> Tokenizer = new(() =>
        BpeTokenizer.Parse(new MemoryStream(new TinyDecoderV1().Generate(Manifest, TinyDecoder.TokenizerRole))));
    private static readonly Lazy<InferenceSession> Session = new(() => new InferenceSession(DecoderBytes.Value));

    private const int Layers = TinyDecoder.NumLayers, Heads = TinyDecoder.NumHeads, HeadDim = TinyDecoder.HeadDim;
    private const int Vocab = TinyDecoderV1.VocabularySize;

    [Fact]
    public void OnnxRuntime_loads_the_decoder_with_the_standard_signature()
    {
        var session = Session.Value;

        session.InputMetadata.Keys.ShouldBe([
            "input_ids", "attention_mask", "position_ids",
            "past_key_values.0.key", "past_key_values.0.value", "past_key_values.1.key", "past_key_values.1.value"]);
        session.OutputMetadata.Keys.ShouldBe(["logits", "present.0.key", "present.0.value", "present.1.key", "present.1.value"]);
        session.InputMetadata["input_ids"].ElementDataType.ShouldBe(TensorElementType.Int64);
        session.InputMetadata["input_ids"].SymbolicDimensions.ShouldBe(["batch_size", "sequence_length"]);
        session.InputMetadata["attention_mask"].SymbolicDimensions.ShouldBe(["batch_size", "total_sequence_length"]);
        session.InputMetadata["position_ids"].SymbolicDimensions.ShouldBe(["batch_size", "sequence_length"]);
        session.InputMetadata["past_key_values.1.value"].ElementDataType.ShouldBe(TensorElementType.Float);
        session.InputMetadata["past_key_values.1.value"].Dimensions.ShouldBe([-1, Heads, -1, HeadDim]);
        session.InputMetadata["past_key_values.1.value"].SymbolicDimensions[2].ShouldBe("past_sequence_length");
        session.OutputMetadata["logits"].Dimensions.ShouldBe([-1, -1, Vocab]);
        session.OutputMetadata["present.0.key"].SymbolicDimensions[2].ShouldBe("total_sequence_length");
        session.ModelMetadata.CustomMetadataMap["aurous.generator"].ShouldBe(TinyDecoderV1.GeneratorName);
        Tokenizer.Value.VocabSize.ShouldBe(Vocab);
        DecoderBytes.Value.Length.ShouldBeLessThan(14_000_000);
    }

    [Fact]
    public void Incremental_decoding_with_the_kv_cache_matches_a_full_forward_pass()
    {
        long[] tokens = [.. Tokenizer.Value.Encode("<|im_start|>user\nThe quick brown fox jumps<|im_end|>\n<|im_start|>assistant\n a b c").Select(t => (long)t)];
        var n = tokens.Length;
        const int prefill = 9;
        n.ShouldBeGreaterThan(prefill + 3);

        var full = Forward(tokens, Ones(n), Range(0, n), batch: 1, past: null);

        var step = Forward(tokens[..prefill], Ones(prefill), Range(0, prefill), batch: 1, past: null);
        AssertClose(step.LogitsAt(0, prefill - 1), full.LogitsAt(0, prefill - 1));
        for (var i = prefill; i < n; i++)
        {
            step = Forward([tokens[i]], Ones(i + 1), [i], batch: 1, past: step);
            step.PastLength.ShouldBe(i + 1);
            AssertClose(step.LogitsAt(0, 0), full.LogitsAt(0, i));
        }
        // The cache itself equals the full pass's.
        for (var t = 0; t < 2 * Layers; t++)
        {
            AssertClose(step.Present[t], full.Present[t]);
        }
    }

    [Fact]
    public void A_left_padded_batch_gives_each_prompt_the_logits_it_gets_alone()
    {
        var a = Encode("Hi");
        var b = Encode("Write a long poem about the sea and the wind, please.");
        a.Length.ShouldBeLessThan(b.Length);
        var width = b.Length;

        var aloneA = Forward(a, Ones(a.Length), Range(0, a.Length), batch: 1, past: null);
        var aloneB = Forward(b, Ones(b.Length), Range(0, b.Length), batch: 1, past: null);

        // Left padding, HF style: pad id, mask 0, position_ids = cumsum(mask) - 1 with padded slots set to 1.
        var pad = width - a.Length;
        var ids = new long[2 * width];
        var mask = new long[2 * width];
        var positions = new long[2 * width];
        for (var j = 0; j < width; j++)
        {
            ids[j] = j < pad ? TinyDecoder.EndOfTextId : a[j - pad];
            mask[j] = j < pad ? 0 : 1;
            positions[j] = j < pad ? 1 : j - pad;
            ids[width + j] = b[j];
            mask[width + j] = 1;
            positions[width + j] = j;
        }
        var batched = Forward(ids, mask, positions, batch: 2, past: null);
        AssertClose(batched.LogitsAt(0, width - 1), aloneA.LogitsAt(0, a.Length - 1));
        AssertClose(batched.LogitsAt(1, width - 1), aloneB.LogitsAt(0, b.Length - 1));

        // One decode step on the shared cache: each row's greedy next token, appended, still matches.
        var nextA = ArgMax(aloneA.LogitsAt(0, a.Length - 1));
        var nextB = ArgMax(aloneB.LogitsAt(0, b.Length - 1));
        var step = Forward([nextA, nextB], [.. mask[..width], 1, .. mask[width..], 1], [a.Length, b.Length], batch: 2, past: batched);
        var stepA = Forward([nextA], Ones(a.Length + 1), [a.Length], batch: 1, past: aloneA);
        var stepB = Forward([nextB], Ones(b.Length + 1), [b.Length], batch: 1, past: aloneB);
        AssertClose(step.LogitsAt(0, 0), stepA.LogitsAt(0, 0));
        AssertClose(step.LogitsAt(1, 0), stepB.LogitsAt(0, 0));
    }

    [Theory]
    [InlineData(TinyDecoderV1.GeneratorName)]
    [InlineData(TinyDecoderV2.GeneratorName)]
    public void Generation_is_byte_identical(string generatorName)
    {
        var generator = Forge.GetGenerator(generatorName);
        var manifest = Manifest with { Generator = generatorName };
        var first = generator.Roles.ToDictionary(r => r, r => generator.Generate(manifest, r));
        var second = generator.Roles.ToDictionary(r => r, r => generator.Generate(manifest, r));

        output.WriteLine($"all {first.Count} files; decoder {first[TinyDecoder.DecoderRole].Length:N0} bytes");
        foreach (var role in generator.Roles)
        {
            SHA256.HashData(first[role]).ShouldBe(SHA256.HashData(second[role]), role);
        }
    }

    /// <summary>
    /// v1's files as its recipe wrote them before v2 came to share it. A forge file is regenerated only when the recipe
    /// name it records changes, so v1 bytes that drifted under the same name would leave machines with different models.
    /// </summary>
    [Fact]
    public void V1_output_is_unchanged_by_the_shared_recipe()
    {
        var generator = new TinyDecoderV1();
        var manifest = Manifest with { Id = "aurous-grow-2.0-pro" };
        var expected = new Dictionary<string, string>
        {
            [TinyDecoder.ConfigRole] = "1EBA90B9055AEA4824441FF46878E1F58BEF82E11CB5395898F7C5D09BF9BA65",
            [TinyDecoder.DecoderRole] = "F34D10DBCEEA99124CDA8AB36375AAB2AB2DED8320A734841E40BF98DFE4F481",
            [TinyDecoder.GenerationConfigRole] = "79271D6E207ECBB08DA7D0C73055901203D4197D195483F23289EE8C0CC389F1",
            [TinyDecoder.TokenizerRole] = "17AD2C215ECB1E6D6CB9599BD014E14910A5DD49C410B4044D05D767C491DD82",
            [TinyDecoder.TokenizerConfigRole] = "448B53CCAFC09DA2F7DB9A44548199402B64E910368CC2ED179AC2DCD977C072",
        };

        generator.Roles.ShouldBe(expected.Keys, ignoreOrder: true);
        foreach (var role in generator.Roles)
        {
            Convert.ToHexString(SHA256.HashData(generator.Generate(manifest, role))).ShouldBe(expected[role], role);
        }
    }

    [Fact]
    public void Config_files_parse_and_agree_with_the_tokenizer()
    {
        var generator = new TinyDecoderV1();
        using var tokenizerConfig = JsonDocument.Parse(generator.Generate(Manifest, TinyDecoder.TokenizerConfigRole));
        using var generationConfig = JsonDocument.Parse(generator.Generate(Manifest, TinyDecoder.GenerationConfigRole));
        using var config = JsonDocument.Parse(generator.Generate(Manifest, TinyDecoder.ConfigRole));
        var tokenizer = Tokenizer.Value;

        var template = tokenizerConfig.RootElement.GetProperty("chat_template").GetString()!;
        template.ShouldContain("<|im_start|>");
        template.ShouldContain("add_generation_prompt");
        tokenizerConfig.RootElement.GetProperty("eos_token").GetString().ShouldBe("<|im_end|>");
        tokenizer.TryGetTokenId("<|im_start|>", out var imStart).ShouldBeTrue();
        tokenizer.TryGetTokenId("<|im_end|>", out var imEnd).ShouldBeTrue();
        (imStart, imEnd).ShouldBe((TinyDecoder.ImStartId, TinyDecoder.ImEndId));
        tokenizerConfig.RootElement.GetProperty("added_tokens_decoder").GetProperty(imEnd.ToString()).GetProperty("content").GetString().ShouldBe("<|im_end|>");

        var eos = generationConfig.RootElement.GetProperty("eos_token_id").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        eos.ShouldBe([imEnd, TinyDecoder.EndOfTextId]);
        generationConfig.RootElement.GetProperty("max_length").GetInt32().ShouldBe(Manifest.ContextWindow);
        generationConfig.RootElement.GetProperty("pad_token_id").GetInt32().ShouldBe(TinyDecoder.EndOfTextId);
        config.RootElement.GetProperty("vocab_size").GetInt32().ShouldBe(tokenizer.VocabSize);
        config.RootElement.GetProperty("num_hidden_layers").GetInt32().ShouldBe(Layers);

        // Special tokens split out of text; the rest is plain GPT-2.
        tokenizer.Encode("<|im_start|>user\nHello<|im_end|>").ShouldBe([imStart, 7220, 198, 15496, imEnd]);
        tokenizer.Decode([imStart, 7220, 198, 15496, imEnd]).ShouldBe("<|im_start|>user\nHello<|im_end|>");
    }

    [Fact]
    public void Forge_generates_a_chat_model_directory()
    {
        using var models = new TempModels();
        var directory = Path.Combine(models.Directory, "tiny-chat-test");
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, ModelCatalog.ManifestFileName), $$"""
            {
              "id": "tiny-chat-test", "kind": "chat", "context_window": 4096,
              "credit_rates": { "input": { "text": 1 }, "output": { "text": 1 } },
              "files": { "decoder": "decoder.onnx", "tokenizer": "tokenizer.json", "tokenizer_config": "tokenizer_config.json",
                         "generation_config": "generation_config.json", "config": "config.json" },
              "generator": "{{TinyDecoderV1.GeneratorName}}"
            }
            """);

        var written = Forge.EnsureGenerated(models.Catalog()).Where(p => p.StartsWith(directory, StringComparison.Ordinal));

        written.Select(Path.GetFileName).ShouldBe(
            ["config.json", "decoder.onnx", "generation_config.json", "tokenizer.json", "tokenizer_config.json"], ignoreOrder: true);
        Forge.EnsureGenerated(models.Catalog()).ShouldBeEmpty();
    }

    [Fact]
    public void Greedy_generation_is_not_degenerate()
    {
        string[] prompts =
        [
            "Hello!", "What is the capital of France?", "Write a haiku about autumn.", "2 + 2 = ?",
            "Tell me a joke about programmers.", "Summarise the plot of Hamlet in one sentence.",
            "Translate 'good morning' into German.", "List three colours.", "Why is the sky blue?", "hi",
        ];
        var lengths = new List<int>();
        var firstTokens = new HashSet<long>();
        var stoppedOnTurnEnd = 0;
        foreach (var prompt in prompts)
        {
            var generated = Greedy(Encode(prompt), maxNewTokens: 96);
            var text = Tokenizer.Value.Decode([.. generated.Select(t => (int)t)]);
            output.WriteLine($"{prompt} -> [{generated.Count}] {text}");
            generated.ShouldNotBeEmpty();
            generated[0].ShouldNotBe(TinyDecoder.ImEndId, $"'{prompt}' ends its turn at once");
            generated.ShouldNotContain(TinyDecoder.ImStartId);
            generated.ShouldNotContain(TinyDecoder.EndOfTextId);
            var body = generated.Where(t => t != TinyDecoder.ImEndId).ToList();
            body.Distinct().Count().ShouldBeGreaterThan(Math.Min(body.Count, 8) / 2, $"'{prompt}' repeats itself: {text}");
            lengths.Add(generated.Count);
            firstTokens.Add(generated[0]);
            if (generated[^1] == TinyDecoder.ImEndId)
            {
                stoppedOnTurnEnd++;
            }
        }
        output.WriteLine($"lengths {string.Join(", ", lengths)}; {stoppedOnTurnEnd} of {prompts.Length} ended their turn");
        // Different prompts start differently, and most turns end on their own (the rest run into the token limit).
        firstTokens.Count.ShouldBeGreaterThanOrEqualTo(prompts.Length / 2);
        stoppedOnTurnEnd.ShouldBeGreaterThanOrEqualTo(prompts.Length / 2);
    }

    private List<long> Greedy(long[] prompt, int maxNewTokens)
    {
        var generated = new List<long>();
        var step = Forward(prompt, Ones(prompt.Length), Range(0, prompt.Length), batch: 1, past: null);
        var next = ArgMax(step.LogitsAt(0, prompt.Length - 1));
        while (true)
        {
            generated.Add(next);
            if (next is TinyDecoder.ImEndId or TinyDecoder.EndOfTextId || generated.Count == maxNewTokens)
            {
                return generated;
            }
            var position = step.PastLength;
            step = Forward([next], Ones(position + 1), [position], batch: 1, past: step);
            next = ArgMax(step.LogitsAt(0, 0));
        }
    }

    private static long[] Encode(string userMessage) =>
        [.. Tokenizer.Value.Encode($"<|im_start|>user\n{userMessage}<|im_end|>\n<|im_start|>assistant\n").Select(t => (long)t)];

    private static long[] Ones(int n) => Enumerable.Repeat(1L, n).ToArray();

    private static long[] Range(int start, int count) => Enumerable.Range(start, count).Select(i => (long)i).ToArray();

    internal static long ArgMax(ReadOnlySpan<float> values)
    {
        var best = 0;
        for (var i = 1; i < values.Length; i++)
        {
            if (values[i] > values[best])
            {
                best = i;
            }
        }
        return best;
    }

    private static void AssertClose(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected, float tolerance = 1e-4f)
    {
        actual.Length.ShouldBe(expected.Length);
        var max = 0f;
        for (var i = 0; i < actual.Length; i++)
        {
            max = MathF.Max(max, MathF.Abs(actual[i] - expected[i]));
        }
        max.ShouldBeLessThan(tolerance, $"max abs difference {max:E2}");
    }

    /// <summary>One run of the decoder: logits [batch, seq, vocab] and the presents (key, value per layer) copied out.</summary>
    private sealed record StepResult(float[] Logits, int Batch, int Sequence, float[][] Present, int PastLength)
    {
        public ReadOnlySpan<float> LogitsAt(int row, int position) => Logits.AsSpan((row * Sequence + position) * Vocab, Vocab);
    }

    private static StepResult Forward(long[] ids, long[] mask, long[] positions, int batch, StepResult? past)
    {
        var sequence = ids.Length / batch;
        var pastLength = past?.PastLength ?? 0;
        (mask.Length / batch).ShouldBe(pastLength + sequence);
        var names = new List<string> { "input_ids", "attention_mask", "position_ids" };
        var values = new List<OrtValue>
        {
            OrtValue.CreateTensorValueFromMemory(ids, [batch, sequence]),
            OrtValue.CreateTensorValueFromMemory(mask, [batch, pastLength + sequence]),
            OrtValue.CreateTensorValueFromMemory(positions, [batch, sequence]),
        };
        string[] outputs = ["logits", .. Enumerable.Range(0, Layers).SelectMany(l => new[] { $"present.{l}.key", $"present.{l}.value" })];
        try
        {
            for (var l = 0; l < Layers; l++)
            {
                for (var kv = 0; kv < 2; kv++)
                {
                    names.Add($"past_key_values.{l}.{(kv == 0 ? "key" : "value")}");
                    long[] shape = [batch, Heads, pastLength, HeadDim];
                    values.Add(past is null
                        ? OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, TensorElementType.Float, shape)
                        : OrtValue.CreateTensorValueFromMemory(past.Present[2 * l + kv], shape));
                }
            }
            using var runOptions = new RunOptions();
            using var results = Session.Value.Run(runOptions, names, values, outputs);
            var logits = results[0].GetTensorDataAsSpan<float>().ToArray();
            logits.Length.ShouldBe(batch * sequence * Vocab);
            var present = results.Skip(1).Select(r =>
            {
                r.GetTensorTypeAndShape().Shape.ShouldBe([batch, Heads, pastLength + sequence, HeadDim]);
                return r.GetTensorDataAsSpan<float>().ToArray();
            }).ToArray();
            return new StepResult(logits, batch, sequence, present, pastLength + sequence);
        }
        finally
        {
            foreach (var value in values)
            {
                value.Dispose();
            }
        }
    }
}
