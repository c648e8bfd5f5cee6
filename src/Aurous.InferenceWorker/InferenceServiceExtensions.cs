using Aurous.Inference.Contracts;
using Aurous.InferenceWorker.Embeddings;
using Aurous.InferenceWorker.Info;
using Aurous.InferenceWorker.Jobs;
using Aurous.InferenceWorker.Media;
using Aurous.InferenceWorker.Models;
using Aurous.InferenceWorker.Security;

namespace Aurous.InferenceWorker;

public static class InferenceServiceExtensions
{
    public const string ModelsHealthCheckName = "models";

    /// <summary>
    /// The model host (ONNX Runtime sessions, created once at start-up in the background), its loader and the "models"
    /// readiness check. Configuration: <c>Models:Path</c>, <c>Inference:ExecutionProvider</c>
    /// (auto|cpu|cuda), <c>Inference:CudaDeviceId</c>, <c>Inference:MaxBatchSize</c>, <c>Inference:MaxBatchWaitMs</c>,
    /// <c>Inference:MaxBatchTokens</c>; <c>InternalApi:Key</c> (required); media: <c>Media:AllowPrivateNetworks</c> (tests only), <c>Media:DecodeTimeoutSeconds</c> (all in <see cref="WorkerOptionsExtensions.AddWorkerOptions"/>); jobs (with
    /// <c>ConnectionStrings:postgres</c>): <c>JobRunner</c>, <c>Moderation</c>, <c>Outputs:PublicBaseUrl</c> (docs/jobs.md).
    /// </summary>
    public static TBuilder AddInferenceServices<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddWorkerOptions();
        builder.Services.AddSingleton<ModelHost>();
        builder.Services.AddHostedService<ModelHostLoader>();
        builder.Services.AddHealthChecks().AddCheck<ModelsHealthCheck>(ModelsHealthCheckName);
        builder.Services.AddSingleton<SafeMediaFetcher>();
        builder.Services.AddSingleton<FfmpegDecoder>();
        builder.Services.AddSingleton<EmbeddingService>();
        builder.Services.AddSingleton<Chat.ChatEngine>();
        builder.AddGenerationJobs();
        // No key, no start: an open /internal would let anyone on the network generate on the operator's hardware.
        builder.Services.AddOptions<InternalApiKeyOptions>()
            .BindConfiguration(InternalApiKeyOptions.Section)
            .Validate(o => InternalApiKeyOptions.IsUsable(o.Key), $"{InternalApiKeyOptions.Requirement}; the worker does not start without it.")
            .ValidateOnStart();
        return builder;
    }

    /// <summary>Requires the internal API key on everything under <c>/internal</c>; health and <c>/v1/info</c> stay open.</summary>
    public static WebApplication UseInternalApiKey(this WebApplication app)
    {
        app.UseMiddleware<InternalApiKeyMiddleware>();
        return app;
    }

    public static WebApplication MapInfoApi(this WebApplication app)
    {
        app.MapGet("/v1/info", (ModelHost host, Chat.ChatEngine chat) => Results.Json(InfoResponse.From(host, chat.Memory), InfoResponse.JsonOptions))
            .WithName("GetWorkerInfo");
        app.MapInternalModels();
        return app;
    }
}
