using Aurous.InferenceWorker.Chat;
using Microsoft.ML.OnnxRuntime;
using Xunit.Abstractions;

namespace Aurous.InferenceWorker.Tests;

/// <summary>
/// <see cref="ChatModel.ForwardStep"/> (one decoder run for several sequences, caches left-padded and masked) against
/// each sequence decoded alone, on both generated decoders (input_ids and inputs_embeds).
/// </summary>
public sealed class BatchedDecodeStepTests(VisionDecoderTests.Models fx, ITestOutputHelper output) : IClassFixture<VisionDecoderTests.Models>
{
    private static readonly string[] Prompts =
    [
        "Hi",
        "Tell me a story about a fox who learns to sail across the sea.",
        "What is two and two?",
        "List three colours, then three animals, then three rivers of Europe, and explain each one in a sentence.",
    ];

    [Theory]
    [InlineData("text", 0)]
    [InlineData("vl", 0)]
    [InlineData("text", 2)]
    public void A_batched_step_gives_each_sequence_the_logits_and_greedy_tokens_it_gets_alone(string id, int decodeThreads)
    {
        using var loaded = id == "vl" ? null : fx.Load(id);
        var chat = loaded ?? fx.Vision;
        if (decodeThreads > 0)
        {
            // Batched steps on a session of their own (Inference:DecodeIntraOpThreads), single runs on the shared one.
            using var options = new SessionOptions { IntraOpNumThreads = decodeThreads };
            chat.UseDecodeSession(new InferenceSession(fx.Model(id).FilePath(ChatModel.DecoderRole), options));
        }
        const int Steps = 24;

        var alone = Prompts.Select(p => Greedy(chat, Prompt(chat, p), Steps)).ToArray();

        var states = Prompts.Select(_ => chat.NewState()).ToArray();
        try
        {
            var logits = Prompts.Select((p, i) => chat.Forward(states[i], Prompt(chat, p), CancellationToken.None)).ToArray();
            var tokens = Prompts.Select(_ => new List<long>()).ToArray();
            var largest = 0f;
            for (var step = 0; step < Steps; step++)
            {
                var next = logits.Select(l => (long)TinyDecoderTests.ArgMax(l.AsSpan(0, chat.VocabSize))).ToArray();
                for (var i = 0; i < next.Length; i++)
                {
                    tokens[i].Add(next[i]);
                }
                logits = chat.ForwardStep(states, next, CancellationToken.None);
                for (var i = 0; i < logits.Length; i++)
                {
                    largest = Math.Max(largest, VisionDecoderTests.MaxDifference(alone[i].Logits[step], logits[i]));
                }
            }
            output.WriteLine($"{id}: largest logit difference batched vs alone {largest:g3}");

            for (var i = 0; i < Prompts.Length; i++)
            {
                tokens[i].ShouldBe(alone[i].Tokens, $"prompt {i} decoded in a batch of {Prompts.Length}");
                states[i].Length.ShouldBe(Prompt(chat, Prompts[i]).Length + Steps, "each cache holds its own positions, without padding");
            }
            // Padding is masked out exactly; only the order of some floating-point sums may differ.
            largest.ShouldBeLessThan(1e-4f);
        }
        finally
        {
            foreach (var state in states)
            {
                state.Dispose();
            }
        }
    }

    [Fact]
    public void Sequences_can_leave_and_join_between_batched_steps()
    {
        var chat = fx.Vision;
        var prompts = Prompts.Select(p => Prompt(chat, p)).ToArray();
        var alone = prompts.Select(p => Greedy(chat, p, 12).Tokens).ToArray();

        // 0 and 1 start together; 2 joins at step 4 (after its own prefill); 1 leaves at step 6; 3 runs alone throughout.
        using var s0 = chat.NewState();
        using var s1 = chat.NewState();
        using var s2 = chat.NewState();
        var next0 = TinyDecoderTests.ArgMax(chat.Forward(s0, prompts[0], CancellationToken.None).AsSpan(0, chat.VocabSize));
        var next1 = TinyDecoderTests.ArgMax(chat.Forward(s1, prompts[1], CancellationToken.None).AsSpan(0, chat.VocabSize));
        long next2 = -1;
        List<long> t0 = [], t1 = [], t2 = [];
        for (var step = 0; step < 12; step++)
        {
            if (step == 4)
            {
                next2 = TinyDecoderTests.ArgMax(chat.Forward(s2, prompts[2], CancellationToken.None).AsSpan(0, chat.VocabSize));
            }
            var states = new List<DecoderState> { s0 };
            var tokens = new List<long> { next0 };
            t0.Add(next0);
            if (step < 6)
            {
                states.Add(s1);
                tokens.Add(next1);
                t1.Add(next1);
            }
            if (step >= 4)
            {
                states.Add(s2);
                tokens.Add(next2);
                t2.Add(next2);
            }
            var logits = chat.ForwardStep(states, tokens.ToArray(), CancellationToken.None);
            next0 = TinyDecoderTests.ArgMax(logits[0].AsSpan(0, chat.VocabSize));
            if (step < 6)
            {
                next1 = TinyDecoderTests.ArgMax(logits[1].AsSpan(0, chat.VocabSize));
            }
            if (step >= 4)
            {
                next2 = TinyDecoderTests.ArgMax(logits[^1].AsSpan(0, chat.VocabSize));
            }
        }

        t0.ShouldBe(alone[0]);
        t1.ShouldBe(alone[1].Take(6));
        t2.ShouldBe(alone[2].Take(8));
    }

    [Fact]
    public void A_step_with_a_token_outside_the_vocabulary_changes_no_cache()
    {
        var chat = fx.Vision;
        using var a = chat.NewState();
        using var b = chat.NewState();
        chat.Forward(a, Prompt(chat, Prompts[0]), CancellationToken.None);
        chat.Forward(b, Prompt(chat, Prompts[1]), CancellationToken.None);
        var (la, lb) = (a.Length, b.Length);

        Should.Throw<ArgumentOutOfRangeException>(() => chat.ForwardStep([a, b], [1, chat.VocabSize], CancellationToken.None));
        Should.Throw<ArgumentException>(() => chat.ForwardStep([a, b], [1], CancellationToken.None));

        a.Length.ShouldBe(la);
        b.Length.ShouldBe(lb);
    }

    private static long[] Prompt(ChatModel chat, string user) =>
        [.. chat.Tokenizer.Encode($"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n").Select(t => (long)t)];

    /// <summary>Greedy tokens decoded alone, with the logits each step's token was fed to get.</summary>
    private static (List<long> Tokens, List<float[]> Logits) Greedy(ChatModel chat, long[] prompt, int steps)
    {
        using var state = chat.NewState();
        var logits = chat.Forward(state, prompt, CancellationToken.None);
        var tokens = new List<long>();
        var after = new List<float[]>();
        for (var i = 0; i < steps; i++)
        {
            var next = TinyDecoderTests.ArgMax(logits.AsSpan(0, chat.VocabSize));
            tokens.Add(next);
            logits = chat.Forward(state, [next], CancellationToken.None);
            after.Add(logits);
        }
        return (tokens, after);
    }
}
