namespace Aurous.InferenceWorker.Media;

/// <summary>Media fetching and decoding settings (<c>Media:*</c>). Size and fetch-time caps come from each model's manifest.</summary>
public sealed record MediaOptions
{
    /// <summary>
    /// Lets media URLs reach loopback/private/link-local addresses. Exists ONLY so tests can fetch from a local server;
    /// never enable it in a deployment (it reopens SSRF to the cloud metadata service and internal networks).
    /// </summary>
    public bool AllowPrivateNetworks { get; init; }
    /// <summary>Wall-clock cap on one ffmpeg/ffprobe process.</summary>
    public TimeSpan DecodeTimeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>ffmpeg processes running at once (others wait).</summary>
    public int MaxConcurrentDecodes { get; init; } = Math.Max(2, Environment.ProcessorCount);
    public string FfmpegPath { get; init; } = "ffmpeg";
    public string FfprobePath { get; init; } = "ffprobe";

    public static MediaOptions FromConfiguration(IConfiguration configuration)
    {
        var defaults = new MediaOptions();
        return new MediaOptions
        {
            AllowPrivateNetworks = configuration.GetValue("Media:AllowPrivateNetworks", false),
            DecodeTimeout = TimeSpan.FromSeconds(configuration.GetValue("Media:DecodeTimeoutSeconds", defaults.DecodeTimeout.TotalSeconds)),
            MaxConcurrentDecodes = Math.Max(1, configuration.GetValue("Media:MaxConcurrentDecodes", defaults.MaxConcurrentDecodes)),
            FfmpegPath = configuration["Media:FfmpegPath"] is { Length: > 0 } ffmpeg ? ffmpeg : defaults.FfmpegPath,
            FfprobePath = configuration["Media:FfprobePath"] is { Length: > 0 } ffprobe ? ffprobe : defaults.FfprobePath,
        };
    }
}
