namespace Aurous.Models;

/// <summary>One output size of the image or video generator: its public name and its pixels.</summary>
public sealed record GenerationSize(string Name, int Width, int Height)
{
    /// <summary>
    /// Billed output tokens of one image (or one video frame) of this size: one token per 32 x 32 pixel tile, so a
    /// 2k_1_1 image is 4,096 tokens and a 1k_1_1 image 1,024. Rates are credits per 1M tokens, like every other model.
    /// </summary>
    public long TokensPerImage => (long)(Width / 32) * (Height / 32);
}

/// <summary>
/// The documented sizes. Images: <c>{1k|2k}_{1_1|4_3|3_4|16_9|9_16}</c>, where 1k and 2k are the long side (1024 and
/// 2048 pixels) and the short side is rounded to a multiple of 64. Videos: <c>480p_{16_9|9_16|1_1}</c>.
/// </summary>
public static class GenerationSizes
{
    public const int VideoFramesPerSecond = 12;
    public const double MinVideoSeconds = 1, MaxVideoSeconds = 8, DefaultVideoSeconds = 4;

    public static readonly IReadOnlyList<GenerationSize> Images =
    [
        new("1k_1_1", 1024, 1024), new("1k_4_3", 1024, 768), new("1k_3_4", 768, 1024), new("1k_16_9", 1024, 576), new("1k_9_16", 576, 1024),
        new("2k_1_1", 2048, 2048), new("2k_4_3", 2048, 1536), new("2k_3_4", 1536, 2048), new("2k_16_9", 2048, 1152), new("2k_9_16", 1152, 2048),
    ];

    public static readonly IReadOnlyList<GenerationSize> Videos =
    [
        new("480p_16_9", 832, 480), new("480p_9_16", 480, 832), new("480p_1_1", 512, 512),
    ];

    public const string DefaultImageSize = "1k_1_1";
    public const string DefaultVideoSize = "480p_16_9";

    public static GenerationSize? FindImage(string name) => Images.FirstOrDefault(s => s.Name == name);

    public static GenerationSize? FindVideo(string name) => Videos.FirstOrDefault(s => s.Name == name);

    /// <summary>Frames of a video of <paramref name="seconds"/> at <see cref="VideoFramesPerSecond"/>.</summary>
    public static int VideoFrames(double seconds) => (int)Math.Round(seconds * VideoFramesPerSecond);
}
