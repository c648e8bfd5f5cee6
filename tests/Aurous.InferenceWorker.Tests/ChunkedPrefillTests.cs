using Aurous.InferenceWorker.Chat;
using Xunit.Abstractions;

namespace Aurous.InferenceWorker.Tests;

/// <summary>
/// Prefill in chunks (<see cref="ChatModel.Forward(DecoderState, ReadOnlySpan{long}, ReadOnlySpan{float}, int, CancellationToken)"/>)
/// against one run over the whole prompt, on the generated vision-language model with an image whose pad tokens
/// straddle chunk boundaries.
/// </summary>
public sealed class ChunkedPrefillTests(VisionDecoderTests.Models fx, ITestOutputHelper output) : IClassFixture<VisionDecoderTests.Models>
{
    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(64)]
    [InlineData(256)]
    public void Chunked_prefill_gives_the_logits_and_tokens_of_one_shot_prefill(int chunk)
    {
        var chat = fx.Vision;
        var (prompt, features) = LongImagePrompt(chat);
        prompt.Length.ShouldBeGreaterThan(chunk, "the prompt must need several chunks");

        using var whole = chat.NewState();
        using var chunked = chat.NewState();
        var expected = chat.Forward(whole, prompt, features, int.MaxValue, CancellationToken.None);
        var actual = chat.Forward(chunked, prompt, features, chunk, CancellationToken.None);

        chunked.Length.ShouldBe(whole.Length);
        var difference = VisionDecoderTests.MaxDifference(expected, actual);
        output.WriteLine($"{prompt.Length} tokens in chunks of {chunk}: largest logit difference {difference:g3}");
        // Same weights, same positions, same masks: only the order of some floating-point sums can differ.
        difference.ShouldBeLessThan(1e-4f);
        Greedy(chat, chunked, actual, 24).ShouldBe(Greedy(chat, whole, expected, 24), "the continuation from both caches is the same");
    }

    [Fact]
    public void A_chunked_prefill_with_bad_image_features_changes_nothing()
    {
        var chat = fx.Vision;
        var (prompt, features) = LongImagePrompt(chat);
        using var state = chat.NewState();

        Should.Throw<ArgumentException>(() => chat.Forward(state, prompt, features.AsSpan(1).ToArray(), 16, CancellationToken.None));

        state.Length.ShouldBe(0, "the whole input is checked before the first chunk runs");
    }

    /// <summary>About 600 tokens of ChatML with one image whose 16 pad tokens start at position 60.</summary>
    private static (long[] Prompt, float[] Features) LongImagePrompt(ChatModel chat)
    {
        var tokens = new List<long>(chat.Tokenizer.Encode("<|im_start|>user\n").Select(t => (long)t));
        var filler = chat.Tokenizer.Encode(" the quick brown fox jumps over the lazy dog and runs into the forest").Select(t => (long)t).ToArray();
        while (tokens.Count < 59)
        {
            tokens.Add(filler[tokens.Count % filler.Length]);
        }
        tokens.Add(chat.VisionStartId);
        tokens.AddRange(Enumerable.Repeat((long)chat.ImageTokenId, chat.TokensPerImage));
        tokens.Add(chat.VisionEndId);
        for (var i = 0; i < 40; i++)
        {
            tokens.AddRange(filler);
        }
        tokens.AddRange(chat.Tokenizer.Encode("<|im_end|>\n<|im_start|>assistant\n").Select(t => (long)t));
        var rgb = new byte[chat.ImagePreprocessor!.ImageSize * chat.ImagePreprocessor.ImageSize * 3];
        new Random(5).NextBytes(rgb);
        return ([.. tokens], chat.EncodeImages([chat.ImagePreprocessor.Normalize(rgb)], CancellationToken.None));
    }

    private static List<long> Greedy(ChatModel chat, DecoderState state, float[] logits, int count)
    {
        var generated = new List<long>();
        for (var i = 0; i < count; i++)
        {
            var next = TinyDecoderTests.ArgMax(logits.AsSpan(0, chat.VocabSize));
            generated.Add(next);
            logits = chat.Forward(state, [next], CancellationToken.None);
        }
        return generated;
    }
}
