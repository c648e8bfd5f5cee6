using System.Diagnostics;
using Aurous.Inference.Contracts;
using Aurous.InferenceWorker.Media;
using Aurous.InferenceWorker.Models;
using Aurous.Models;

namespace Aurous.InferenceWorker.Embeddings;

/// <summary>A request the worker refuses: HTTP status, error code, message and (when one part is to blame) its index.</summary>
public sealed class EmbeddingRequestException(int status, string code, string message, int? part = null) : Exception(message)
{
    public int Status { get; } = status;
    public string Code { get; } = code;
    public int? Part { get; } = part;
}

/// <summary>
/// Turns the parts of one request into one vector: text part -> text encoder; image -> image encoder; video -> at most
/// media.video_max_frames evenly spaced frames, each through the image encoder, mean-pooled and L2-normalised. The
/// combined vector is the L2-normalised mean of the (unit) part vectors. Parts run concurrently; their text sequences and
/// frames join other requests' in the dynamic batchers.
/// </summary>
public sealed class EmbeddingService(ModelHost host, SafeMediaFetcher fetcher, FfmpegDecoder decoder)
{
    public const string TextPart = "text";
    public const string ImagePart = "image_url";
    public const string VideoPart = "video_url";

    private sealed record PartResult(double[] Vector, int TextTokens, int Images, int Frames);

    public async Task<InternalEmbeddingResponse> EmbedAsync(InternalEmbeddingRequest request, CancellationToken cancellationToken)
    {
        var engine = ResolveEngine(request.Model);
        var parts = Validate(request, engine);

        using var activity = WorkerTelemetry.ActivitySource.StartActivity("embeddings.embed");
        activity?.SetTag("aurous.model.id", engine.Id);
        activity?.SetTag("aurous.parts", parts.Count);

        using var failFast = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var tasks = new Task<PartResult>[parts.Count];
        for (var i = 0; i < parts.Count; i++)
        {
            tasks[i] = RunPartAsync(engine, parts[i], i, failFast);
        }
        try
        {
            await Task.WhenAll(tasks);
        }
        catch when (!cancellationToken.IsCancellationRequested)
        {
            // Report the first part (by index) that really failed, not one cancelled because of it.
            var failed = tasks.Select(t => t.Exception?.InnerException).FirstOrDefault(e => e is not null and not OperationCanceledException);
            if (failed is not null)
            {
                activity?.SetStatus(ActivityStatusCode.Error, failed.Message);
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failed);
            }
            throw;
        }

        var dimension = tasks[0].Result.Vector.Length;
        var mean = new double[dimension];
        foreach (var task in tasks)
        {
            var vector = task.Result.Vector;
            if (vector.Length != dimension)
            {
                throw new InvalidOperationException($"model '{engine.Id}' produced part vectors of different sizes ({vector.Length} and {dimension})");
            }
            for (var d = 0; d < dimension; d++)
            {
                mean[d] += vector[d];
            }
        }
        var embedding = Normalise(mean);

        var results = tasks.Select(t => t.Result).ToArray();
        var textTokens = results.Sum(r => r.TextTokens);
        var images = results.Sum(r => r.Images);
        var frames = results.Sum(r => r.Frames);
        var usage = new InternalEmbeddingUsage(
            TextTokens: textTokens,
            ImageTokens: images * engine.Media.ImageTokens,
            VideoTokens: frames * engine.Media.VideoFrameTokens,
            Images: images,
            VideoFrames: frames);
        activity?.SetTag("aurous.tokens.text", usage.TextTokens);
        activity?.SetTag("aurous.tokens.visual", usage.ImageTokens);
        activity?.SetTag("aurous.tokens.video", usage.VideoTokens);
        var modelTag = new KeyValuePair<string, object?>("aurous.model.id", engine.Id);
        WorkerTelemetry.EmbeddingTokens.Add(usage.TextTokens, modelTag, new("aurous.modality", "text"));
        WorkerTelemetry.EmbeddingTokens.Add(usage.ImageTokens, modelTag, new("aurous.modality", "visual"));
        WorkerTelemetry.EmbeddingTokens.Add(usage.VideoTokens, modelTag, new("aurous.modality", "video"));
        return new InternalEmbeddingResponse(engine.Id, embedding, usage);
    }

    private EmbeddingEngine ResolveEngine(string? modelName)
    {
        if (string.IsNullOrWhiteSpace(modelName))
        {
            throw new EmbeddingRequestException(400, "invalid_request", "'model' is required");
        }
        switch (host.State)
        {
            case ModelHostState.Loading:
                throw new EmbeddingRequestException(503, "model_not_ready", "the worker is still loading its models; retry shortly");
            case ModelHostState.Failed:
                throw new EmbeddingRequestException(503, "model_unavailable", $"the worker failed to start: {host.FailureReason}");
        }
        var model = host.Find(modelName)
            ?? throw new EmbeddingRequestException(404, "model_not_found", $"this worker has no model '{modelName}'");
        if (model.Kind != ModelKind.Embedding)
        {
            throw new EmbeddingRequestException(400, "model_not_supported", $"model '{model.Id}' is not an embedding model");
        }
        return model.Engine
            ?? throw new EmbeddingRequestException(503, "model_unavailable", $"model '{model.Id}' is not loaded: {model.Reason}");
    }

    private static IReadOnlyList<InternalEmbeddingPart> Validate(InternalEmbeddingRequest request, EmbeddingEngine engine)
    {
        var parts = request.Parts;
        if (parts is null || parts.Count == 0)
        {
            throw new EmbeddingRequestException(400, "invalid_request", "'parts' must hold at least one part");
        }
        if (engine.Manifest.MaxInputItems is { } maxItems && parts.Count > maxItems)
        {
            throw new EmbeddingRequestException(400, "too_many_parts", $"model '{engine.Id}' accepts at most {maxItems} parts; got {parts.Count}");
        }
        long textTokens = 0;
        for (var i = 0; i < parts.Count; i++)
        {
            var part = parts[i] ?? throw new EmbeddingRequestException(400, "invalid_part", $"input[{i}] is null", i);
            switch (part.Type)
            {
                case TextPart:
                    if (part.TokenIds is not { Length: > 0 } ids)
                    {
                        throw new EmbeddingRequestException(400, "invalid_part", $"input[{i}] (text): 'token_ids' must be a non-empty array", i);
                    }
                    if (engine.VocabularySize is { } vocabulary)
                    {
                        foreach (var id in ids)
                        {
                            if ((uint)id >= (uint)vocabulary)
                            {
                                throw new EmbeddingRequestException(400, "invalid_token_ids",
                                    $"input[{i}] (text): token id {id} is outside the vocabulary of '{engine.Id}' (0..{vocabulary - 1})", i);
                            }
                        }
                    }
                    textTokens += ids.Length;
                    break;
                case ImagePart or VideoPart:
                    if (engine.ImageEncoder is null)
                    {
                        throw new EmbeddingRequestException(400, "unsupported_part", $"input[{i}] ({part.Type}): model '{engine.Id}' has no image encoder", i);
                    }
                    if (string.IsNullOrWhiteSpace(part.Url))
                    {
                        throw new EmbeddingRequestException(400, MediaErrorCodes.InvalidMediaUrl, $"input[{i}] ({part.Type}): 'url' is required", i);
                    }
                    break;
                default:
                    throw new EmbeddingRequestException(400, "invalid_part",
                        $"input[{i}]: unknown part type '{part.Type}'; expected '{TextPart}', '{ImagePart}' or '{VideoPart}'", i);
            }
        }
        if (textTokens > engine.Manifest.ContextWindow)
        {
            throw new EmbeddingRequestException(400, "context_length_exceeded",
                $"the text parts hold {textTokens} tokens; model '{engine.Id}' accepts at most {engine.Manifest.ContextWindow}");
        }
        return parts;
    }

    private async Task<PartResult> RunPartAsync(EmbeddingEngine engine, InternalEmbeddingPart part, int index, CancellationTokenSource failFast)
    {
        var cancellationToken = failFast.Token;
        try
        {
            switch (part.Type)
            {
                case TextPart:
                {
                    var result = await engine.TextBatcher.RunAsync(part.TokenIds!, cancellationToken);
                    Activity.Current?.AddEvent(new ActivityEvent("text_encoded", tags: new ActivityTagsCollection
                    {
                        ["aurous.part"] = index, ["aurous.batch.size"] = result.BatchSize, ["aurous.queue_ms"] = result.QueueMs,
                    }));
                    return new PartResult(ToDouble(result.Value), part.TokenIds!.Length, 0, 0);
                }
                case ImagePart:
                {
                    var bytes = await fetcher.FetchAsync(part.Url!, engine.Media.MaxMediaBytes, TimeSpan.FromSeconds(engine.Media.FetchTimeoutSeconds), cancellationToken);
                    var rgb = await decoder.DecodeImageAsync(bytes, engine.ImageEncoder!.ImageSize, cancellationToken);
                    var result = await engine.ImageBatcher!.RunAsync(engine.ImageEncoder.Preprocess(rgb), cancellationToken);
                    return new PartResult(ToDouble(result.Value), 0, 1, 0);
                }
                default: // VideoPart
                {
                    var bytes = await fetcher.FetchAsync(part.Url!, engine.Media.MaxMediaBytes, TimeSpan.FromSeconds(engine.Media.FetchTimeoutSeconds), cancellationToken);
                    var frames = await decoder.DecodeVideoFramesAsync(bytes, engine.ImageEncoder!.ImageSize, engine.Media.VideoMaxFrames, cancellationToken);
                    var encoded = await Task.WhenAll(frames.Select(f => engine.ImageBatcher!.RunAsync(engine.ImageEncoder.Preprocess(f), cancellationToken)));
                    var pooled = new double[encoded[0].Value.Length];
                    foreach (var frame in encoded)
                    {
                        for (var d = 0; d < pooled.Length; d++)
                        {
                            pooled[d] += frame.Value[d];
                        }
                    }
                    return new PartResult(Array.ConvertAll(Normalise(pooled), v => (double)v), 0, 0, frames.Count);
                }
            }
        }
        catch (MediaException ex)
        {
            failFast.Cancel();
            throw new EmbeddingRequestException(400, ex.Code, $"input[{index}] ({part.Type}): {ex.Message}", index);
        }
        catch (MediaDecoderUnavailableException ex)
        {
            failFast.Cancel();
            throw new EmbeddingRequestException(503, "media_decoder_unavailable", $"input[{index}] ({part.Type}): {ex.Message}", index);
        }
    }

    private static double[] ToDouble(float[] vector) => Array.ConvertAll(vector, v => (double)v);

    /// <summary>v / max(|v|, 1e-12), in double, returned as float.</summary>
    public static float[] Normalise(double[] vector)
    {
        double sum = 0;
        foreach (var v in vector)
        {
            sum += v * v;
        }
        var norm = Math.Max(Math.Sqrt(sum), 1e-12);
        return Array.ConvertAll(vector, v => (float)(v / norm));
    }
}
