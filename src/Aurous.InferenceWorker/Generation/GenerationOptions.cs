using Microsoft.Extensions.Options;

namespace Aurous.InferenceWorker.Generation;

/// <summary>Settings of the image and video generators (<c>Generation:*</c>).</summary>
public sealed record GenerationOptions
{
    public const string Section = "Generation";

    /// <summary>Threads of one generator run (<c>Generation:IntraOpThreads</c>, default 0: one per core).</summary>
    public int IntraOpThreads { get; set; }
    /// <summary>The embedding model whose text tower the LoRA dispatcher compares prompts with
    /// (<c>Generation:DispatchEmbeddingModel</c>, default <c>aurous-embed-vision-1.0</c>).</summary>
    public string DispatchEmbeddingModel { get; set; } = "aurous-embed-vision-1.0";
    /// <summary>x264 constant rate factor of generated videos (<c>Generation:VideoCrf</c>, default 20, 0 to 51; lower is better and larger).</summary>
    public int VideoCrf { get; set; } = 20;
}

/// <summary>The values <see cref="GenerationOptions"/> accept; a value outside them stops the worker at start-up.</summary>
public sealed class GenerationOptionsValidator : IValidateOptions<GenerationOptions>
{
    public ValidateOptionsResult Validate(string? name, GenerationOptions options)
    {
        var check = new OptionsCheck();
        check.That(options.IntraOpThreads >= 0, "Generation:IntraOpThreads must be 0 or more.");
        check.That(!string.IsNullOrWhiteSpace(options.DispatchEmbeddingModel), "Generation:DispatchEmbeddingModel must name an embedding model (leave it unset for aurous-embed-vision-1.0).");
        check.That(options.VideoCrf is >= 0 and <= 51, "Generation:VideoCrf must be from 0 to 51.");
        return check.Result;
    }
}
