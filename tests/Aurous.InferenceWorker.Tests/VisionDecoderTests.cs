using System.Text.Json;
using Aurous.InferenceWorker.Chat;
using Aurous.InferenceWorker.Media;
using Aurous.InferenceWorker.Models;
using Aurous.ModelForge;
using Aurous.Models;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Xunit.Abstractions;

namespace Aurous.InferenceWorker.Tests;

/// <summary>
/// The vision-language tiny decoder (<see cref="TinyDecoderV2"/>: vision + embeddings + decoder graphs) as the worker
/// loads it (<see cref="ChatModel"/>): layout detection, image encoding, image features spliced in at the
/// <c>&lt;|image_pad|&gt;</c> positions, and v1 still loading as a text-only model.
/// </summary>
public sealed class VisionDecoderTests(VisionDecoderTests.Models fx, ITestOutputHelper output) : IClassFixture<VisionDecoderTests.Models>
{
    private const int Hidden = TinyDecoder.HiddenSize;
    private const int PerImage = TinyVisionTower.TokensPerImage;
    private const int Size = TinyVisionTower.ImageSize;

    /// <summary>A v2 and a v1 model generated once into a temp models folder, and the v2 one loaded.</summary>
    public sealed class Models : IDisposable
    {
        public Models()
        {
            Temp = new TempModels(copyRepositoryManifests: false);
            Temp.AddManifest("vl", TempModels.ChatManifest("vl", TinyDecoderV2.GeneratorName, new TinyDecoderV2().Roles));
            Temp.AddManifest("text", TempModels.ChatManifest("text", TinyDecoderV1.GeneratorName, new TinyDecoderV1().Roles));
            Forge.EnsureGenerated(Temp.Catalog());
            Vision = Load("vl");
        }

        public TempModels Temp { get; }
        public ChatModel Vision { get; }

        public CatalogModel Model(string id) => Temp.Catalog().Models.Single(m => m.Manifest.Id == id);

        public ChatModel Load(string id)
        {
            var model = Model(id);
            var decoder = new InferenceSession(model.FilePath(ChatModel.DecoderRole));
            try
            {
                return ChatModel.Create(decoder, model);
            }
            catch
            {
                decoder.Dispose();
                throw;
            }
        }

        public void Dispose()
        {
            Vision.Dispose();
            Temp.Dispose();
        }
    }

    [Fact]
    public void V2_writes_the_three_graph_layout_and_the_worker_loads_it_with_images()
    {
        var model = fx.Model("vl");
        using (var vision = new InferenceSession(model.FilePath(ChatModel.VisionRole)))
        {
            vision.InputMetadata.Keys.ShouldBe(["pixel_values"]);
            vision.InputMetadata["pixel_values"].Dimensions.ShouldBe([-1, 3, Size, Size]);
            vision.OutputMetadata.Keys.ShouldBe(["image_features"]);
            vision.OutputMetadata["image_features"].Dimensions.ShouldBe([-1, PerImage, Hidden]);
            vision.ModelMetadata.CustomMetadataMap["aurous.image_mean"].ShouldStartWith("0.48145");
        }
        using (var embeddings = new InferenceSession(model.FilePath(ChatModel.EmbeddingsRole)))
        {
            embeddings.InputMetadata["input_ids"].ElementDataType.ShouldBe(TensorElementType.Int64);
            embeddings.OutputMetadata["inputs_embeds"].Dimensions.ShouldBe([-1, -1, Hidden]);
        }
        var chat = fx.Vision;
        chat.Session.InputMetadata.Keys.ShouldContain("inputs_embeds");
        chat.Session.InputMetadata.Keys.ShouldNotContain("input_ids");
        chat.Session.OutputMetadata["logits"].Dimensions.ShouldBe([-1, -1, TinyDecoderV2.VocabularySize]);
        chat.TakesEmbeddings.ShouldBeTrue();
        chat.SupportsImages.ShouldBeTrue();
        chat.HiddenSize.ShouldBe(Hidden);
        chat.TokensPerImage.ShouldBe(PerImage);
        (chat.VisionStartId, chat.VisionEndId, chat.ImageTokenId).ShouldBe((50259, 50260, 50261));
        chat.VocabSize.ShouldBe(50_262);
        chat.ImagePreprocessor!.ImageSize.ShouldBe(Size);
        foreach (var id in new[] { chat.VisionStartId, chat.VisionEndId, chat.ImageTokenId })
        {
            chat.ProducesText(id).ShouldBeFalse();
        }
        chat.Tokenizer.Encode("<|vision_start|><|image_pad|><|image_pad|><|vision_end|>").ShouldBe([50259, 50261, 50261, 50260]);

        using var config = JsonDocument.Parse(File.ReadAllBytes(model.FilePath(ChatModel.ConfigRole)));
        config.RootElement.GetProperty("image_token_id").GetInt32().ShouldBe(50261);
        var visionConfig = config.RootElement.GetProperty("vision_config");
        (visionConfig.GetProperty("image_size").GetInt32(), visionConfig.GetProperty("patch_size").GetInt32(), visionConfig.GetProperty("tokens_per_image").GetInt32())
            .ShouldBe((224, 56, 16));
        using var tokenizerConfig = JsonDocument.Parse(File.ReadAllBytes(model.FilePath("tokenizer_config")));
        var added = tokenizerConfig.RootElement.GetProperty("added_tokens_decoder");
        added.GetProperty("50261").GetProperty("content").GetString().ShouldBe("<|image_pad|>");
        added.GetProperty("50259").GetProperty("special").GetBoolean().ShouldBeTrue();
        tokenizerConfig.RootElement.GetProperty("additional_special_tokens").EnumerateArray().Select(e => e.GetString())
            .ShouldBe(["<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>"]);
        tokenizerConfig.RootElement.GetProperty("chat_template").GetString()!.ShouldContain("<|vision_start|><|image_pad|><|vision_end|>");

        chat.SelfTest();
    }

    [Fact]
    public void Text_only_prompts_generate_and_never_produce_vision_tokens()
    {
        var chat = fx.Vision;
        string[] prompts = ["Hello!", "What is the capital of France?", "Write a haiku about autumn.", "List three colours."];
        var ended = 0;
        foreach (var prompt in prompts)
        {
            var generated = Greedy(chat, Chat(chat, prompt), [], maxNewTokens: 64);
            output.WriteLine($"{prompt} -> [{generated.Count}] {chat.Tokenizer.Decode([.. generated.Select(t => (int)t)])}");
            generated.ShouldNotBeEmpty();
            generated.ShouldNotContain(t => t >= TinyDecoder.EndOfTextId && t != TinyDecoder.ImEndId, "only <|im_end|> of the special tokens may be produced");
            generated.Distinct().Count().ShouldBeGreaterThan(Math.Min(generated.Count, 8) / 2);
            ended += generated[^1] == TinyDecoder.ImEndId ? 1 : 0;
        }
        ended.ShouldBeGreaterThan(0);
    }

    [Fact]
    public void A_text_only_prompt_gets_v1s_logits()
    {
        using var v1 = fx.Load("text");
        var v2 = fx.Vision;
        var prompt = Chat(v2, "Write a short story about a fox who learns to sail.");
        using var s1 = v1.NewState();
        using var s2 = v2.NewState();
        var (a, b) = (v1.Forward(s1, prompt, CancellationToken.None), v2.Forward(s2, prompt, CancellationToken.None));
        for (var step = 0; step < 8; step++)
        {
            MaxDifference(a.AsSpan(0, v1.VocabSize), b.AsSpan(0, v1.VocabSize)).ShouldBeLessThan(1e-4f);
            // The vision tokens are never produced.
            b.AsSpan(v1.VocabSize, 3).ToArray().ShouldAllBe(logit => logit < -50f);
            long next = TinyDecoderTests.ArgMax(b.AsSpan(0, v2.VocabSize));
            (a, b) = (v1.Forward(s1, [next], CancellationToken.None), v2.Forward(s2, [next], CancellationToken.None));
        }
    }

    [Fact]
    public void Two_different_images_give_different_logits_and_the_same_image_identical_ones()
    {
        var chat = fx.Vision;
        var (a, b) = (Gradient(chat), Noise(chat, seed: 7));
        var batched = chat.EncodeImages([a, b, a], CancellationToken.None);
        batched.Length.ShouldBe(3 * PerImage * Hidden);
        var featuresA = batched[..(PerImage * Hidden)];
        var featuresB = batched[(PerImage * Hidden)..(2 * PerImage * Hidden)];
        MaxDifference(batched[(2 * PerImage * Hidden)..], featuresA).ShouldBeLessThan(1e-6f, "the same image twice in one batch");
        MaxDifference(chat.EncodeImages([b], CancellationToken.None), featuresB).ShouldBeLessThan(1e-5f, "batched equals alone");
        MaxDifference(featuresA, featuresB).ShouldBeGreaterThan(0.1f);

        var prompt = Chat(chat, "Describe this image.", images: 1);
        var withA = Prefill(chat, prompt, featuresA);
        var withB = Prefill(chat, prompt, featuresB);
        var withAAgain = Prefill(chat, prompt, featuresA);

        withAAgain.ShouldBe(withA);
        MaxDifference(withA, withB).ShouldBeGreaterThan(0.1f);
        Greedy(chat, prompt, featuresA, 12).ShouldBe(Greedy(chat, prompt, featuresA, 12));
    }

    [Fact]
    public void Image_features_replace_the_pad_embeddings_exactly_at_the_pad_positions()
    {
        var chat = fx.Vision;
        var prompt = Chat(chat, "What is in the picture?", images: 1);
        var features = chat.EncodeImages([Gradient(chat)], CancellationToken.None);

        // Splicing the pad token's own embedding is what feeding plain pads would do; real features change the result.
        var plainPads = EmbeddingRows(Enumerable.Repeat((long)chat.ImageTokenId, PerImage).ToArray());
        MaxDifference(Prefill(chat, prompt, features), Prefill(chat, prompt, plainPads)).ShouldBeGreaterThan(0.1f);

        // Splicing the rows of other tokens equals feeding those tokens: the rows land at the pad positions, in order.
        var words = chat.Tokenizer.Encode(" the quick brown fox jumps over the lazy dog and then the cat runs far away").Take(PerImage).Select(t => (long)t).ToArray();
        words.Length.ShouldBe(PerImage);
        var substituted = (long[])prompt.Clone();
        var w = 0;
        for (var i = 0; i < substituted.Length; i++)
        {
            if (substituted[i] == chat.ImageTokenId)
            {
                substituted[i] = words[w++];
            }
        }
        MaxDifference(Prefill(chat, prompt, EmbeddingRows(words)), Prefill(chat, substituted, [])).ShouldBeLessThan(1e-4f);
    }

    [Fact]
    public void Decoding_after_an_image_prefill_matches_one_full_pass()
    {
        var chat = fx.Vision;
        var features = chat.EncodeImages([Noise(chat, seed: 3)], CancellationToken.None);
        var prompt = Chat(chat, "Caption:", images: 1);
        long[] tail = [262, 3290, 318, 257];

        var full = Prefill(chat, [.. prompt, .. tail], features);

        using var state = chat.NewState();
        chat.Forward(state, prompt, features, CancellationToken.None);
        float[] last = [];
        foreach (var token in tail)
        {
            last = chat.Forward(state, [token], CancellationToken.None);
        }
        state.Length.ShouldBe(prompt.Length + tail.Length);
        MaxDifference(last, full).ShouldBeLessThan(1e-4f);
    }

    [Theory]
    [InlineData(1, PerImage - 1)]
    [InlineData(1, PerImage + 1)]
    [InlineData(0, PerImage)]
    [InlineData(1, 0)]
    [InlineData(2, PerImage)]
    public void A_pad_feature_count_mismatch_throws_before_anything_runs(int images, int featureRows)
    {
        var chat = fx.Vision;
        var prompt = Chat(chat, "Look.", images);
        using var state = chat.NewState();

        Should.Throw<ArgumentException>(() => chat.Forward(state, prompt, new float[featureRows * Hidden], CancellationToken.None));

        state.Length.ShouldBe(0);
        chat.Forward(state, [464], CancellationToken.None).Length.ShouldBe(chat.VocabSize);
    }

    [Fact]
    public void Pads_without_features_and_malformed_images_are_refused()
    {
        var chat = fx.Vision;
        using var state = chat.NewState();
        Should.Throw<ArgumentException>(() => chat.Forward(state, Chat(chat, "Look.", images: 1), CancellationToken.None));
        Should.Throw<ArgumentException>(() => chat.Forward(state, [464, 3290], new float[Hidden + 1], CancellationToken.None));
        Should.Throw<ArgumentException>(() => chat.EncodeImages([new float[10]], CancellationToken.None));
        Should.Throw<ArgumentOutOfRangeException>(() => chat.Forward(state, [chat.VocabSize], CancellationToken.None));
        state.Length.ShouldBe(0);
        chat.EncodeImages([], CancellationToken.None).ShouldBeEmpty();
    }

    [Fact]
    public async Task Fetched_image_bytes_are_preprocessed_as_the_embeddings_image_encoder_does()
    {
        var chat = fx.Vision;
        using var decoder = new FfmpegDecoder(new MediaOptions());
        var png = TestMedia.Png(320, 200, "testsrc");

        var pixels = await chat.PreprocessImageAsync(png, decoder, CancellationToken.None);

        pixels.Length.ShouldBe(3 * Size * Size);
        // The same decode + normalisation the embeddings path uses: ffmpeg at the tower's size, CLIP mean/std.
        var rgb = await decoder.DecodeImageAsync(png, Size, CancellationToken.None);
        pixels[0].ShouldBe((rgb[0] / 255f - TinyImageEncoderV1.Mean[0]) / TinyImageEncoderV1.Std[0], 1e-5f);
        pixels[Size * Size + 5].ShouldBe((rgb[3 * 5 + 1] / 255f - TinyImageEncoderV1.Mean[1]) / TinyImageEncoderV1.Std[1], 1e-5f);
        var other = await chat.PreprocessImageAsync(TestMedia.Png(320, 200, "smptebars"), decoder, CancellationToken.None);
        MaxDifference(chat.EncodeImages([pixels], CancellationToken.None), chat.EncodeImages([other], CancellationToken.None)).ShouldBeGreaterThan(0.1f);
        await Should.ThrowAsync<MediaException>(() => chat.PreprocessImageAsync("not an image"u8.ToArray(), decoder, CancellationToken.None));
    }

    [Fact]
    public void V1_still_loads_as_a_text_only_input_ids_model()
    {
        using var chat = fx.Load("text");

        chat.Session.InputMetadata.Keys.ShouldContain("input_ids");
        chat.TakesEmbeddings.ShouldBeFalse();
        chat.SupportsImages.ShouldBeFalse();
        (chat.ImageTokenId, chat.VisionStartId, chat.VisionEndId, chat.TokensPerImage).ShouldBe((-1, -1, -1, 0));
        chat.ImagePreprocessor.ShouldBeNull();
        chat.VocabSize.ShouldBe(TinyDecoderV1.VocabularySize);
        chat.SelfTest();
        using var state = chat.NewState();
        chat.Forward(state, [464, 3290], CancellationToken.None).Length.ShouldBe(TinyDecoderV1.VocabularySize);
        Should.Throw<ArgumentException>(() => chat.Forward(state, [464], new float[Hidden], CancellationToken.None));
        Should.Throw<InvalidOperationException>(() => chat.EncodeImages([new float[3 * Size * Size]], CancellationToken.None));
    }

    [Fact]
    public void An_inputs_embeds_decoder_without_its_embeddings_file_is_refused()
    {
        var generated = fx.Model("vl");
        var model = generated with
        {
            Manifest = generated.Manifest with { Files = generated.Manifest.Files.Where(f => f.Key != ChatModel.EmbeddingsRole).ToDictionary() },
        };
        using var decoder = new InferenceSession(model.FilePath(ChatModel.DecoderRole));

        Should.Throw<InvalidDataException>(() => ChatModel.Create(decoder, model)).Message.ShouldContain("'embeddings' file");
    }

    /// <summary>ChatML with <paramref name="images"/> images (each laid out as the lead's prompt builder must) before the text.</summary>
    private static long[] Chat(ChatModel chat, string text, int images = 0)
    {
        var prompt = new List<long>(chat.Tokenizer.Encode("<|im_start|>user\n").Select(t => (long)t));
        for (var i = 0; i < images; i++)
        {
            prompt.Add(chat.VisionStartId);
            prompt.AddRange(Enumerable.Repeat((long)chat.ImageTokenId, chat.TokensPerImage));
            prompt.Add(chat.VisionEndId);
        }
        prompt.AddRange(chat.Tokenizer.Encode($"{text}<|im_end|>\n<|im_start|>assistant\n").Select(t => (long)t));
        return [.. prompt];
    }

    private static float[] Prefill(ChatModel chat, long[] prompt, float[] features)
    {
        using var state = chat.NewState();
        return chat.Forward(state, prompt, features, CancellationToken.None);
    }

    private static List<long> Greedy(ChatModel chat, long[] prompt, float[] features, int maxNewTokens)
    {
        using var state = chat.NewState();
        var logits = chat.Forward(state, prompt, features, CancellationToken.None);
        var generated = new List<long>();
        while (true)
        {
            var next = TinyDecoderTests.ArgMax(logits.AsSpan(0, chat.VocabSize));
            generated.Add(next);
            if (chat.Defaults.EosTokenIds.Contains((int)next) || generated.Count == maxNewTokens)
            {
                return generated;
            }
            logits = chat.Forward(state, [next], CancellationToken.None);
        }
    }

    /// <summary>The embeddings graph's rows for <paramref name="ids"/>, flattened (what a pad would get without features).</summary>
    private float[] EmbeddingRows(long[] ids)
    {
        using var session = new InferenceSession(fx.Model("vl").FilePath(ChatModel.EmbeddingsRole));
        using var input = OrtValue.CreateTensorValueFromMemory(ids, [1, ids.Length]);
        using var results = session.Run(new RunOptions(), ["input_ids"], [input], ["inputs_embeds"]);
        return results[0].GetTensorDataAsSpan<float>().ToArray();
    }

    /// <summary>A smooth colour ramp, preprocessed.</summary>
    private static float[] Gradient(ChatModel chat)
    {
        var rgb = new byte[Size * Size * 3];
        for (var y = 0; y < Size; y++)
        {
            for (var x = 0; x < Size; x++)
            {
                var p = 3 * (y * Size + x);
                (rgb[p], rgb[p + 1], rgb[p + 2]) = ((byte)x, (byte)y, (byte)(255 - x));
            }
        }
        return chat.ImagePreprocessor!.Normalize(rgb);
    }

    private static float[] Noise(ChatModel chat, int seed)
    {
        var rgb = new byte[Size * Size * 3];
        new Random(seed).NextBytes(rgb);
        return chat.ImagePreprocessor!.Normalize(rgb);
    }

    internal static float MaxDifference(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        a.Length.ShouldBe(b.Length);
        var max = 0f;
        for (var i = 0; i < a.Length; i++)
        {
            max = MathF.Max(max, MathF.Abs(a[i] - b[i]));
        }
        return max;
    }
}
