using Aurous.InferenceWorker.Embeddings;
using Aurous.InferenceWorker.Generation;
using Aurous.InferenceWorker.Media;
using Aurous.InferenceWorker.Models;

namespace Aurous.InferenceWorker;

public static class MediaGenerationExtensions
{
    /// <summary>
    /// The image and video generator (<see cref="IMediaGenerator"/>) and the LoRA dispatcher (<see cref="ILoraDispatcher"/>),
    /// singletons over the worker's models folder and execution provider. Configuration: <c>Generation:IntraOpThreads</c>,
    /// <c>Generation:DispatchEmbeddingModel</c>, <c>Generation:VideoCrf</c> (<see cref="GenerationOptions"/>). Models load on first use.
    /// </summary>
    public static TBuilder AddMediaGeneration<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddSingleton(sp => new GenerationModels(
            sp.GetRequiredService<ModelHost>(), sp.GetRequiredService<InferenceOptions>(), sp.GetRequiredService<GenerationOptions>()));
        builder.Services.AddSingleton<IMediaGenerator>(sp => new OnnxMediaGenerator(
            sp.GetRequiredService<GenerationModels>(), sp.GetRequiredService<GenerationOptions>(), sp.GetRequiredService<MediaOptions>(),
            sp.GetRequiredService<ILogger<OnnxMediaGenerator>>()));
        builder.Services.AddSingleton<ILoraDispatcher>(sp => new LoraDispatcher(
            sp.GetRequiredService<GenerationModels>(), sp.GetRequiredService<EmbeddingService>(), sp.GetRequiredService<GenerationOptions>(),
            sp.GetRequiredService<ILogger<LoraDispatcher>>()));
        return builder;
    }
}
