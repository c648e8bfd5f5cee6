using System.Text.Json;

namespace Aurous.Models;

/// <summary>
/// <c>scheduler_config.json</c> of a diffusion generator: an Euler sampler over a Karras sigma schedule with an
/// x0-predicting denoiser and classifier-free guidance (the negative prompt, or the empty prompt, as the unconditional
/// branch).
/// </summary>
public sealed record DiffusionSchedulerConfig
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
    };

    public string Sampler { get; init; } = "euler";
    public string PredictionType { get; init; } = "sample";
    public int NumInferenceSteps { get; init; } = 8;
    public double SigmaMax { get; init; } = 2.0;
    public double SigmaMin { get; init; } = 0.02;
    public double Rho { get; init; } = 7.0;
    public double GuidanceScale { get; init; } = 3.0;
    public int LatentChannels { get; init; } = 4;
    public int VaeScaleFactor { get; init; } = 8;
    /// <summary>Latent sides must be multiples of this (the denoiser's pooling).</summary>
    public int LatentMultiple { get; init; } = 1;

    public byte[] ToJson() => JsonSerializer.SerializeToUtf8Bytes(this, Json);

    public static DiffusionSchedulerConfig Load(string path) =>
        JsonSerializer.Deserialize<DiffusionSchedulerConfig>(File.ReadAllBytes(path), Json)
        ?? throw new InvalidDataException($"scheduler config '{path}' is empty");
}
