using Microsoft.Extensions.Options;

namespace Aurous.InferenceWorker.Media;

/// <summary>Media fetching and decoding settings (<c>Media:*</c>). Size and fetch-time caps come from each model's manifest.</summary>
public sealed record MediaOptions
{
    public const string Section = "Media";

    /// <summary>
    /// Lets media URLs reach loopback/private/link-local addresses (<c>Media:AllowPrivateNetworks</c>, default false).
    /// Exists ONLY so tests can fetch from a local server; never enable it in a deployment (it reopens SSRF to the cloud
    /// metadata service and internal networks).
    /// </summary>
    public bool AllowPrivateNetworks { get; set; }
    /// <summary>Wall-clock cap in seconds on one ffmpeg/ffprobe process (<c>Media:DecodeTimeoutSeconds</c>, default 30).</summary>
    public double DecodeTimeoutSeconds { get; set; } = 30;
    /// <summary>ffmpeg processes running at once; others wait (<c>Media:MaxConcurrentDecodes</c>, default the number of cores, at least 2).</summary>
    public int MaxConcurrentDecodes { get; set; } = Math.Max(2, Environment.ProcessorCount);
    /// <summary>The ffmpeg executable (<c>Media:FfmpegPath</c>, default <c>ffmpeg</c> on the PATH).</summary>
    public string FfmpegPath { get; set; } = "ffmpeg";
    /// <summary>The ffprobe executable (<c>Media:FfprobePath</c>, default <c>ffprobe</c> on the PATH).</summary>
    public string FfprobePath { get; set; } = "ffprobe";

    /// <summary><see cref="DecodeTimeoutSeconds"/> as a time span.</summary>
    public TimeSpan DecodeTimeout => TimeSpan.FromSeconds(DecodeTimeoutSeconds);
}

/// <summary>The values <see cref="MediaOptions"/> accept; a value outside them stops the worker at start-up.</summary>
public sealed class MediaOptionsValidator : IValidateOptions<MediaOptions>
{
    public ValidateOptionsResult Validate(string? name, MediaOptions options)
    {
        var check = new OptionsCheck();
        check.That(options.DecodeTimeoutSeconds > 0, $"Media:DecodeTimeoutSeconds must be more than 0, not {options.DecodeTimeoutSeconds}.");
        check.That(options.MaxConcurrentDecodes > 0, $"Media:MaxConcurrentDecodes must be a positive number, not {options.MaxConcurrentDecodes}.");
        check.That(!string.IsNullOrWhiteSpace(options.FfmpegPath), "Media:FfmpegPath must name the ffmpeg executable (leave it unset for 'ffmpeg').");
        check.That(!string.IsNullOrWhiteSpace(options.FfprobePath), "Media:FfprobePath must name the ffprobe executable (leave it unset for 'ffprobe').");
        return check.Result;
    }
}
