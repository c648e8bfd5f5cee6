using Aurous.InferenceWorker.Embeddings;
using Aurous.InferenceWorker.Info;
using Aurous.InferenceWorker.Media;
using Aurous.InferenceWorker.Models;

namespace Aurous.InferenceWorker;

public static class InferenceServiceExtensions
{
    public const string ModelsHealthCheckName = "models";

    /// <summary>
    /// The model host (ONNX Runtime sessions, created once at start-up in the background), its loader and the "models"
    /// readiness check. Configuration: <c>Models:Path</c>, <c>Models:Generate</c>, <c>Inference:ExecutionProvider</c>
    /// (auto|cpu|cuda), <c>Inference:CudaDeviceId</c>, <c>Inference:MaxBatchSize</c>, <c>Inference:MaxBatchWaitMs</c>,
    /// <c>Inference:MaxBatchTokens</c>; media: <c>Media:AllowPrivateNetworks</c> (tests only), <c>Media:DecodeTimeoutSeconds</c>.
    /// </summary>
    public static TBuilder AddInferenceServices<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        // Parsed when first resolved (not here) so that test hosts can still override configuration.
        builder.Services.AddSingleton(sp => InferenceOptions.FromConfiguration(sp.GetRequiredService<IConfiguration>()));
        builder.Services.AddSingleton<ModelHost>();
        builder.Services.AddHostedService<ModelHostLoader>();
        builder.Services.AddHealthChecks().AddCheck<ModelsHealthCheck>(ModelsHealthCheckName);
        builder.Services.AddSingleton(sp => MediaOptions.FromConfiguration(sp.GetRequiredService<IConfiguration>()));
        builder.Services.AddSingleton<SafeMediaFetcher>();
        builder.Services.AddSingleton<FfmpegDecoder>();
        builder.Services.AddSingleton<EmbeddingService>();
        builder.Services.AddSingleton<Chat.ChatEngine>();
        return builder;
    }

    public static WebApplication MapInfoApi(this WebApplication app)
    {
        app.MapGet("/v1/info", (ModelHost host) => Results.Json(InfoResponse.From(host), InfoResponse.JsonOptions))
            .WithName("GetWorkerInfo");
        return app;
    }
}
