using System.Globalization;
using System.Text.Json;
using Aurous.ModelForge.Onnx;
using Aurous.Models;

namespace Aurous.ModelForge;

/// <summary>
/// <c>aurous-forge/tiny-diffusion-v1</c>: a latent-diffusion image generator in the layout of a diffusion export (text
/// encoder, denoiser run for a few steps by a scheduler, VAE decoder), small enough that a 2048 x 2048 image takes
/// a couple of seconds on two CPU cores. Deterministic weights, no skill: different prompts, seeds and adapters give
/// visibly different pictures, nothing more.
/// <code>
/// text_encoder.onnx  input_ids, attention_mask int64 [batch, sequence]  -> text_embeds float [batch, 64]
///                    (GPT-2 BPE ids hashed into 4096 buckets, sum / sqrt(count) pooled, 32 -> 64 projection, Tanh)
/// denoiser.onnx      sample float [batch, 4, h, w], sigma float [batch], text_embeds float [batch, 64]
///                    (+ LoRA inputs, see <see cref="LoraParameters"/>)  -> denoised float [batch, 4, h, w]
/// vae_decoder.onnx   latent float [batch, 4, h, w]                       -> image float [batch, 3, 8h, 8w] in [-1, 1]
/// </code>
/// The denoiser predicts the clean latent (x0) from <c>sample / sqrt(sigma^2 + 1)</c>: a 3x3 conv in, the prompt's and
/// sigma's projection added per channel, a one-level U-Net (4x average pool, conv, linear upsample, skip), a 3x3 conv
/// mid block and a 1x1 conv out, squashed by Tanh. Its LoRA layers (text projection, mid conv, out conv) take low-rank
/// A and B matrices as graph inputs that are also zero initializers: without an adapter the low-rank branch adds
/// nothing, and an ONNX Runtime adapter overrides them for one run. The VAE decoder upsamples the latent 8x (three
/// linear 2x upsamples: two followed by a 3x3 conv, the last one of the RGB after a 1x1 conv).
/// </summary>
public sealed class TinyDiffusionV1 : IModelGenerator
{
    public const string GeneratorName = "aurous-forge/tiny-diffusion-v1";
    public const string TextEncoderRole = "text_encoder";
    public const string DenoiserRole = "denoiser";
    public const string VaeDecoderRole = "vae_decoder";
    public const string TokenizerRole = "tokenizer";
    public const string SchedulerRole = "scheduler";

    public const int VocabularySize = TinyTextEncoderV2.VocabularySize;
    /// <summary>Token ids are hashed (id mod this) into a small embedding table: a prompt encoder needs no more here.</summary>
    public const int TokenBuckets = 4096;
    public const int TokenWidth = 32;
    public const int TextEmbedWidth = 64;
    public const int LatentChannels = 4;
    public const int Width = 16;
    /// <summary>Rank of every LoRA layer.</summary>
    public const int LoraRank = 4;
    public const int VaeScaleFactor = 8;
    /// <summary>The U-Net's one down level pools the latent by this much; latent sides must be multiples of it.</summary>
    public const int DownFactor = 4;
    public const ulong Seed = 0xD1FF_0510_0001UL;

    public const string InputIds = "input_ids", AttentionMask = "attention_mask", TextEmbeds = "text_embeds";
    public const string Sample = "sample", Sigma = "sigma", Denoised = "denoised";
    public const string Latent = "latent", Image = "image";

    /// <summary>The denoiser's LoRA inputs (name, shape): what an adapter for this model carries.</summary>
    public static readonly IReadOnlyList<(string Name, long[] Shape)> LoraParameters =
    [
        ("text_proj.lora_A", [TextEmbedWidth, LoraRank]),
        ("text_proj.lora_B", [LoraRank, Width]),
        ("conv_mid.lora_A", [LoraRank, Width, 1, 1]),
        ("conv_mid.lora_B", [Width, LoraRank, 1, 1]),
        ("conv_out.lora_A", [LoraRank, Width, 1, 1]),
        ("conv_out.lora_B", [LatentChannels, LoraRank, 1, 1]),
    ];

    /// <summary>The scheduler settings written to <c>scheduler_config.json</c> (read by the worker).</summary>
    public static readonly DiffusionSchedulerConfig Scheduler = new()
    {
        LatentChannels = LatentChannels, VaeScaleFactor = VaeScaleFactor, LatentMultiple = DownFactor,
    };

    public string Name => GeneratorName;

    public IReadOnlyCollection<string> Roles { get; } = [TextEncoderRole, DenoiserRole, VaeDecoderRole, TokenizerRole, SchedulerRole];

    public IReadOnlyCollection<string> UnversionedRoles { get; } = [TokenizerRole, SchedulerRole];

    public byte[] Generate(ModelManifest manifest, string role)
    {
        if (manifest.Kind is not (ModelKind.Image or ModelKind.Video))
        {
            throw new InvalidOperationException($"Generator '{Name}' makes image and video models, but model '{manifest.Id}' is of kind {manifest.Kind}.");
        }
        return role switch
        {
            TextEncoderRole => OnnxWriter.Serialize(BuildTextEncoder(manifest.Id)),
            DenoiserRole => OnnxWriter.Serialize(BuildDenoiser(manifest.Id)),
            VaeDecoderRole => OnnxWriter.Serialize(BuildVaeDecoder(manifest.Id)),
            TokenizerRole => Gpt2TokenizerJson.Generate(),
            SchedulerRole => Scheduler.ToJson(),
            _ => throw new InvalidOperationException($"Generator '{Name}' writes {string.Join(", ", Roles)}, but model '{manifest.Id}' asks it for '{role}'."),
        };
    }

    /// <summary>Uniform weights with variance gain^2 / fanIn (sqrt(3 / fanIn) is unit variance for unit inputs).</summary>
    private static float[] Weights(DeterministicRandom random, int count, int fanIn, float gain = 1f) =>
        random.Fill(count, gain * MathF.Sqrt(3f / fanIn));

    public static OnnxModel BuildTextEncoder(string modelId)
    {
        var random = new DeterministicRandom(Seed);
        var g = new GraphBuilder();
        g.Floats("token_embedding", [TokenBuckets, TokenWidth], random.Fill(TokenBuckets * TokenWidth, 1f));
        g.Int64s("token_buckets", [], [TokenBuckets]);
        g.Floats("text_proj", [TokenWidth, TextEmbedWidth], Weights(random, TokenWidth * TextEmbedWidth, TokenWidth, 2f));
        g.Int64s("axis_last", [1], [2]);
        g.Int64s("axis_sequence", [1], [1]);
        g.Floats("min_token_count", [], [1f]);

        g.Node("Mod", [InputIds, "token_buckets"], "token_bucket");
        g.Add(new OnnxNode("Gather", ["token_embedding", "token_bucket"], ["token_states"], "embed") { Attributes = [OnnxAttribute.Int("axis", 0)] });
        g.Add(new OnnxNode("Cast", [AttentionMask], ["mask_f"], "mask_to_float") { Attributes = [OnnxAttribute.Int("to", (long)OnnxDataType.Float)] });
        g.Node("Unsqueeze", ["mask_f", "axis_last"], "mask_3d");
        g.Node("Mul", ["token_states", "mask_3d"], "masked_states");
        g.Node("ReduceSum", ["masked_states", "axis_sequence"], "summed", OnnxAttribute.Int("keepdims", 0));
        g.Node("ReduceSum", ["mask_f", "axis_sequence"], "token_count", OnnxAttribute.Int("keepdims", 1));
        g.Node("Max", ["token_count", "min_token_count"], "safe_count");
        // Sum / sqrt(count): keeps the pooled features at unit scale however long the prompt is.
        g.Node("Sqrt", ["safe_count"], "sqrt_count");
        g.Node("Div", ["summed", "sqrt_count"], "pooled");
        g.Node("MatMul", ["pooled", "text_proj"], "projected");
        g.Node("Tanh", ["projected"], TextEmbeds);

        OnnxDim batch = "batch", sequence = "sequence";
        var graph = new OnnxGraph("tiny_diffusion_text_encoder", g.Nodes,
            [new(InputIds, OnnxDataType.Int64, [batch, sequence]), new(AttentionMask, OnnxDataType.Int64, [batch, sequence])],
            [new(TextEmbeds, OnnxDataType.Float, [batch, TextEmbedWidth])],
            g.Initializers);
        return Model(graph, modelId, "text encoder");
    }

    public static OnnxModel BuildDenoiser(string modelId)
    {
        var random = new DeterministicRandom(Seed + 1);
        var g = new GraphBuilder();
        g.Floats("conv_in.weight", [Width, LatentChannels, 3, 3], Weights(random, Width * LatentChannels * 9, LatentChannels * 9, 1.5f));
        g.Floats("conv_in.bias", [Width], random.Fill(Width, 0.1f));
        g.Floats("text_proj.weight", [TextEmbedWidth, Width], Weights(random, TextEmbedWidth * Width, TextEmbedWidth, 1.5f));
        g.Floats("time_proj.weight", [1, Width], random.Fill(Width, 0.5f));
        g.Floats("conv_down.weight", [Width, Width, 3, 3], Weights(random, Width * Width * 9, Width * 9, 2.5f));
        g.Floats("conv_down.bias", [Width], random.Fill(Width, 0.1f));
        g.Floats("conv_mid.weight", [Width, Width, 3, 3], Weights(random, Width * Width * 9, Width * 9, 1.5f));
        g.Floats("conv_mid.bias", [Width], random.Fill(Width, 0.1f));
        g.Floats("conv_out.weight", [LatentChannels, Width, 1, 1], Weights(random, LatentChannels * Width, Width, 2f));
        g.Floats("conv_out.bias", [LatentChannels], random.Fill(LatentChannels, 0.2f));
        foreach (var (name, shape) in LoraParameters)
        {
            g.Floats(name, shape, new float[shape.Aggregate(1L, (a, d) => a * d)]);
        }
        g.Int64s("axes_chw", [3], [1, 2, 3]);
        g.Int64s("axes_hw", [2], [2, 3]);
        g.Int64s("axis_1", [1], [1]);
        g.Floats("one", [], [1f]);
        g.Floats("skip_scale", [], [0.2f]);
        g.Floats("up_scales", [4], [1f, 1f, DownFactor, DownFactor]);

        OnnxAttribute[] same3 = [OnnxAttribute.Ints("pads", 1, 1, 1, 1)];

        // c_in = 1 / sqrt(sigma^2 + 1): the noisy latent at unit scale, as k-diffusion schedulers feed it.
        g.Node("Unsqueeze", [Sigma, "axes_chw"], "sigma_4d");
        g.Node("Mul", ["sigma_4d", "sigma_4d"], "sigma_sq");
        g.Node("Add", ["sigma_sq", "one"], "sigma_sq_1");
        g.Node("Sqrt", ["sigma_sq_1"], "sigma_norm");
        g.Node("Div", [Sample, "sigma_norm"], "x_in");
        g.Node("Conv", ["x_in", "conv_in.weight", "conv_in.bias"], "h_in", same3);

        // Conditioning: prompt (with its LoRA branch) and sigma, one value per channel.
        g.Node("MatMul", [TextEmbeds, "text_proj.weight"], "text_cond");
        g.Node("MatMul", [TextEmbeds, "text_proj.lora_A"], "text_lora_down");
        g.Node("MatMul", ["text_lora_down", "text_proj.lora_B"], "text_lora");
        g.Node("Add", ["text_cond", "text_lora"], "text_cond_adapted");
        g.Node("Unsqueeze", [Sigma, "axis_1"], "sigma_2d");
        g.Node("MatMul", ["sigma_2d", "time_proj.weight"], "time_cond");
        g.Node("Add", ["text_cond_adapted", "time_cond"], "cond");
        g.Node("Unsqueeze", ["cond", "axes_hw"], "cond_4d");
        g.Node("Add", ["h_in", "cond_4d"], "h_cond");
        g.Node("Tanh", ["h_cond"], "h1");

        // One U-Net level: pooled context at 1/4 resolution, upsampled back and added.
        g.Node("AveragePool", ["h1"], "down", OnnxAttribute.Ints("kernel_shape", DownFactor, DownFactor), OnnxAttribute.Ints("strides", DownFactor, DownFactor));
        g.Node("Conv", ["down", "conv_down.weight", "conv_down.bias"], "down_conv", same3);
        g.Node("Tanh", ["down_conv"], "down_act");
        g.Node("Resize", ["down_act", "", "up_scales"], "up", OnnxAttribute.String("mode", "linear"));
        // The full-resolution path is damped so that the pooled context shapes the picture and the noise only adds texture.
        g.Node("Mul", ["h1", "skip_scale"], "h1_damped");
        g.Node("Add", ["h1_damped", "up"], "h2");

        g.Node("Conv", ["h2", "conv_mid.weight", "conv_mid.bias"], "mid_base", same3);
        g.Node("Conv", ["h2", "conv_mid.lora_A"], "mid_lora_down");
        g.Node("Conv", ["mid_lora_down", "conv_mid.lora_B"], "mid_lora");
        g.Node("Add", ["mid_base", "mid_lora"], "mid");
        g.Node("Tanh", ["mid"], "h3");

        g.Node("Conv", ["h3", "conv_out.weight", "conv_out.bias"], "out_base");
        g.Node("Conv", ["h3", "conv_out.lora_A"], "out_lora_down");
        g.Node("Conv", ["out_lora_down", "conv_out.lora_B"], "out_lora");
        g.Node("Add", ["out_base", "out_lora"], "out");
        g.Node("Tanh", ["out"], Denoised);

        OnnxDim batch = "batch", height = "height", width = "width";
        var inputs = new List<OnnxValueInfo>
        {
            new(Sample, OnnxDataType.Float, [batch, LatentChannels, height, width]),
            new(Sigma, OnnxDataType.Float, [batch]),
            new(TextEmbeds, OnnxDataType.Float, [batch, TextEmbedWidth]),
        };
        // Graph inputs that are also initializers: zero by default, overridden per run by an adapter.
        inputs.AddRange(LoraParameters.Select(p => new OnnxValueInfo(p.Name, OnnxDataType.Float, p.Shape.Select(d => (OnnxDim)d).ToArray())));
        var graph = new OnnxGraph("tiny_diffusion_denoiser", g.Nodes, inputs,
            [new(Denoised, OnnxDataType.Float, [batch, LatentChannels, height, width])],
            g.Initializers);
        return Model(graph, modelId, "denoiser", new KeyValuePair<string, string>("aurous.prediction", "sample"),
            new KeyValuePair<string, string>("aurous.lora_parameters", string.Join(",", LoraParameters.Select(p => p.Name))));
    }

    public static OnnxModel BuildVaeDecoder(string modelId)
    {
        var random = new DeterministicRandom(Seed + 2);
        var g = new GraphBuilder();
        int c0 = 16, c1 = 8, c2 = 8;
        g.Floats("conv_in.weight", [c0, LatentChannels, 3, 3], Weights(random, c0 * LatentChannels * 9, LatentChannels * 9, 1.5f));
        g.Floats("conv_in.bias", [c0], random.Fill(c0, 0.1f));
        g.Floats("up1.weight", [c1, c0, 3, 3], Weights(random, c1 * c0 * 9, c0 * 9, 1.5f));
        g.Floats("up1.bias", [c1], random.Fill(c1, 0.1f));
        g.Floats("up2.weight", [c2, c1, 3, 3], Weights(random, c2 * c1 * 9, c1 * 9, 1.5f));
        g.Floats("up2.bias", [c2], random.Fill(c2, 0.1f));
        g.Floats("conv_out.weight", [3, c2, 1, 1], Weights(random, 3 * c2, c2, 1.5f));
        g.Floats("conv_out.bias", [3], random.Fill(3, 0.1f));
        g.Floats("up_scales", [4], [1f, 1f, 2f, 2f]);

        OnnxAttribute[] same3 = [OnnxAttribute.Ints("pads", 1, 1, 1, 1)];
        g.Node("Conv", [Latent, "conv_in.weight", "conv_in.bias"], "v0_pre", same3);
        g.Node("Tanh", ["v0_pre"], "v0");
        g.Node("Resize", ["v0", "", "up_scales"], "v1_up", OnnxAttribute.String("mode", "linear"));
        g.Node("Conv", ["v1_up", "up1.weight", "up1.bias"], "v1_pre", same3);
        g.Node("Tanh", ["v1_pre"], "v1");
        g.Node("Resize", ["v1", "", "up_scales"], "v2_up", OnnxAttribute.String("mode", "linear"));
        g.Node("Conv", ["v2_up", "up2.weight", "up2.bias"], "v2_pre", same3);
        g.Node("Tanh", ["v2_pre"], "v2");
        // The last 2x is a linear upsample of the RGB itself: a 1x1 conv and a linear resize commute, so the colours
        // are mixed at half resolution and only three channels are resized to full size.
        g.Node("Conv", ["v2", "conv_out.weight", "conv_out.bias"], "rgb_pre");
        g.Node("Tanh", ["rgb_pre"], "rgb_half");
        g.Node("Resize", ["rgb_half", "", "up_scales"], Image, OnnxAttribute.String("mode", "linear"));

        OnnxDim batch = "batch";
        var graph = new OnnxGraph("tiny_diffusion_vae_decoder", g.Nodes,
            [new(Latent, OnnxDataType.Float, [batch, LatentChannels, "height", "width"])],
            [new(Image, OnnxDataType.Float, [batch, 3, "image_height", "image_width"])],
            g.Initializers);
        return Model(graph, modelId, "VAE decoder", new KeyValuePair<string, string>("aurous.vae_scale_factor", VaeScaleFactor.ToString(CultureInfo.InvariantCulture)));
    }

    private static OnnxModel Model(OnnxGraph graph, string modelId, string what, params KeyValuePair<string, string>[] extra) =>
        new(graph)
        {
            DocString = $"Tiny deterministic diffusion {what} generated by {GeneratorName} for {modelId}. Not a trained model.",
            Metadata =
            [
                new(OnnxProvenance.GeneratorKey, GeneratorName),
                new("aurous.model_id", modelId),
                .. extra,
            ],
        };
}
