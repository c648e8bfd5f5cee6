using System.Buffers;
using System.Diagnostics;
using Aurous.Api.Metering;
using Aurous.Jobs;
using Aurous.Models;
using Hangfire;
using Hangfire.States;
using Microsoft.Extensions.Options;

namespace Aurous.Api.Generation;

/// <summary>
/// POST /v1/images and /v1/videos (asynchronous jobs), their free estimates, GET one, GET the list, and cancel. Both
/// kinds run on the same machinery: admission through the metering pipeline (scope, RPM, Idempotency-Key, a hold of
/// the exact price), then the hold is handed to a job row and a Hangfire job runs it on the inference worker.
/// </summary>
public static class GenerationApi
{
    public const string ImagesScope = "images";
    public const string VideosScope = "videos";
    public const int DefaultListLimit = 20, MaxListLimit = 100;

    public static RouteGroupBuilder MapImagesApi(this RouteGroupBuilder v1) => Map(v1, JobKind.Image);

    public static RouteGroupBuilder MapVideosApi(this RouteGroupBuilder v1) => Map(v1, JobKind.Video);

    private static RouteGroupBuilder Map(RouteGroupBuilder v1, JobKind kind)
    {
        var (path, scope, tag, noun) = kind == JobKind.Image ? ("/images", ImagesScope, "Images", "Image") : ("/videos", VideosScope, "Videos", "Video");
        var group = v1.MapGroup(path).WithTags(tag).RequireScope(scope);
        group.MapPost("/", (HttpContext c, ModelCatalog m, LoraCatalog l, MeteringPipeline p, JobStore j, IBackgroundJobClient q, OutputLinks o, IOptions<GenerationOptions> g, ILoggerFactory log) =>
                CreateAsync(c, kind, m, l, p, j, q, o, g.Value, log))
            .WithName($"Create{noun}").WithSummary($"Starts a {noun.ToLowerInvariant()} generation job; answers 202 with the pending job.")
            .Accepts<JsonElement>("application/json").Produces<JsonElement>(StatusCodes.Status202Accepted)
            .ProducesErrors(400, 401, 402, 403, 404, 409, 415, 429, 503);
        group.MapPost("/estimate", (HttpContext c, ModelCatalog m, LoraCatalog l) => EstimateAsync(c, kind, m, l))
            .WithName($"Estimate{noun}").WithSummary($"Prices a {noun.ToLowerInvariant()} request without creating a job or charging anything.")
            .Accepts<JsonElement>("application/json").Produces<JsonElement>()
            .ProducesErrors(400, 401, 403, 404, 415, 429);
        group.MapGet("/", (HttpContext c, JobStore j, OutputLinks o, TimeProvider t, string? limit, string? after) => ListAsync(c, kind, j, o, t, limit, after))
            .WithName($"List{noun}s").WithSummary($"Lists your team's {noun.ToLowerInvariant()} jobs, newest first (cursor: after).")
            .Produces<JsonElement>().ProducesErrors(400, 401, 403, 429);
        group.MapGet("/{id}", (HttpContext c, string id, JobStore j, OutputLinks o, TimeProvider t) => GetAsync(c, kind, id, j, o, t))
            .WithName($"Get{noun}").WithSummary($"Returns one {noun.ToLowerInvariant()} job of your team.")
            .Produces<JsonElement>().ProducesErrors(401, 403, 404, 429);
        group.MapPost("/{id}/cancel", (HttpContext c, string id, JobStore j, OutputLinks o, TimeProvider t, ILoggerFactory log) => CancelAsync(c, kind, id, j, o, t, log))
            .WithName($"Cancel{noun}")
            .WithSummary($"Cancels a {noun.ToLowerInvariant()} job: a pending one at once (200, hold released), a processing one within a step (202).")
            .Produces<JsonElement>().Produces<JsonElement>(StatusCodes.Status202Accepted).ProducesErrors(401, 403, 404, 409, 429);
        return group;
    }

    private static async Task<IResult> CreateAsync(
        HttpContext context, JobKind kind, ModelCatalog models, LoraCatalog loras, MeteringPipeline metering, JobStore jobs,
        IBackgroundJobClient queue, OutputLinks links, GenerationOptions options, ILoggerFactory logs)
    {
        var (body, request, error) = await ReadAsync(context, kind, models, loras);
        if (error is not null)
        {
            return error.ToResult(context);
        }
        var (admitted, ended) = await metering.AdmitAsync(context, new AdmissionRequest(request!.Endpoint, request.Model, 0, request.Credits, body, BecomesJob: true));
        if (ended is not null)
        {
            return ended;
        }
        await using var metered = admitted!;

        var rc = RequestContext.Of(context);
        var key = rc.ApiKey!;
        var clock = context.RequestServices.GetRequiredService<TimeProvider>();
        var now = clock.GetUtcNow();
        var baseUrl = links.BaseFor(context);
        var (job, responseBody, handOffError) = await metered.HandOffToJobAsync(jobs, holdId => new NewJob(
                JobStore.NewId(kind, now), key.TeamId, key.Id, rc.RequestId, kind, request.Spec, request.Spec.LoraId, holdId, request.Credits,
                request.TokensJson, request.RatesJson, request.BreakdownJson, TraceParent(), now, now + options.QueueTimeout),
            row => JobView.Render(row, baseUrl, now));
        if (handOffError is not null)
        {
            return handOffError;
        }
        var created = job!;

        try
        {
            var started = Stopwatch.GetTimestamp();
            queue.Create<IGenerationJobs>(runner => runner.RunAsync(created.Id, CancellationToken.None), new EnqueuedState(JobQueues.Generation));
            rc.Time("enqueue", started);
        }
        catch (Exception ex)
        {
            // Without a queued run the job would wait for its queue deadline: end it now, with its hold released, and
            // forget the stored 202 so a retry with the same Idempotency-Key makes a new job rather than replaying this one.
            logs.CreateLogger("Aurous.Api.Generation").LogError(ex, "Could not queue job {JobId}; ending it failed", created.Id);
            await jobs.EndWithoutChargeAsync(created.Id, JobStatus.Failed, "queue_unavailable", "The job could not be queued; nothing was charged.", CancellationToken.None);
            if (context.Request.Headers.TryGetValue(MeteringPipeline.IdempotencyKeyHeader, out var idempotencyKey))
            {
                await metering.Idempotency.ForgetAsync(key.TeamId, idempotencyKey.ToString(), rc.RequestId);
            }
            return new ApiError(503, "api_error", "queue_unavailable", "The job queue is unavailable; nothing was charged. Retry shortly.").ToResult(context);
        }
        context.Response.Headers.Location = $"/v1/{JobStore.EndpointOf(kind)}/{created.Id}";
        return new RawJsonResult(responseBody, "application/json", StatusCodes.Status202Accepted);
    }

    private static async Task<IResult> EstimateAsync(HttpContext context, JobKind kind, ModelCatalog models, LoraCatalog loras)
    {
        var (_, request, error) = await ReadAsync(context, kind, models, loras);
        if (error is not null)
        {
            return error.ToResult(context);
        }
        return new RawJsonResult(RenderEstimate(request!), "application/json");
    }

    private static async Task<IResult> GetAsync(HttpContext context, JobKind kind, string id, JobStore jobs, OutputLinks links, TimeProvider clock)
    {
        var job = JobStore.KindOf(id) == kind ? await jobs.GetAsync(RequestContext.Of(context).TeamId, id, context.RequestAborted) : null;
        return job is null
            ? NotFound(context, kind, id)
            : new RawJsonResult(JobView.Render(job, links.BaseFor(context), clock.GetUtcNow()), "application/json");
    }

    private static async Task<IResult> ListAsync(HttpContext context, JobKind kind, JobStore jobs, OutputLinks links, TimeProvider clock, string? limitText, string? after)
    {
        var limit = DefaultListLimit;
        if (limitText is not null && (!int.TryParse(limitText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out limit) || limit is < 1 or > MaxListLimit))
        {
            return ApiError.InvalidRequest("invalid_limit", $"'limit' must be an integer from 1 to {MaxListLimit}.").ToResult(context);
        }
        if (after is not null && JobStore.KindOf(after) != kind)
        {
            return ApiError.InvalidRequest("invalid_cursor", $"'after' must be the id of a {(kind == JobKind.Image ? "image (img_…)" : "video (vid_…)")} from a previous page.").ToResult(context);
        }
        var (page, hasMore) = await jobs.ListAsync(RequestContext.Of(context).TeamId, kind, limit, after, context.RequestAborted);
        var baseUrl = links.BaseFor(context);
        var now = clock.GetUtcNow();
        var buffer = new ArrayBufferWriter<byte>(1024 * (page.Count + 1));
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("object", "list");
            w.WriteStartArray("data");
            foreach (var job in page)
            {
                JobView.Write(w, job, baseUrl, now);
            }
            w.WriteEndArray();
            if (page.Count > 0)
            {
                w.WriteString("first_id", page[0].Id);
                w.WriteString("last_id", page[^1].Id);
            }
            else
            {
                w.WriteNull("first_id");
                w.WriteNull("last_id");
            }
            w.WriteBoolean("has_more", hasMore);
            w.WriteEndObject();
        }
        return new RawJsonResult(buffer.WrittenSpan.ToArray(), "application/json");
    }

    private static async Task<IResult> CancelAsync(HttpContext context, JobKind kind, string id, JobStore jobs, OutputLinks links, TimeProvider clock, ILoggerFactory logs)
    {
        var teamId = RequestContext.Of(context).TeamId;
        var outcome = JobStore.KindOf(id) == kind ? await jobs.CancelAsync(teamId, id, CancellationToken.None) : CancelOutcome.NotFound;
        if (outcome == CancelOutcome.NotFound)
        {
            return NotFound(context, kind, id);
        }
        var job = (await jobs.GetAsync(teamId, id, CancellationToken.None))!;
        var body = JobView.Render(job, links.BaseFor(context), clock.GetUtcNow());
        switch (outcome)
        {
            case CancelOutcome.AlreadyTerminal:
                return new ApiError(409, "invalid_request", "job_not_cancellable",
                    $"{id} already ended ({job.Status}); only pending or processing jobs can be cancelled.").ToResult(context);
            case CancelOutcome.Cancelled:
                await PublishAsync(context, job, body, logs);
                return new RawJsonResult(body, "application/json");
            default:
                return new RawJsonResult(body, "application/json", StatusCodes.Status202Accepted);
        }
    }

    /// <summary>The terminal event of a job the API itself ended, when webhooks are part of this deployment.</summary>
    private static async Task PublishAsync(HttpContext context, JobRow job, byte[] body, ILoggerFactory logs)
    {
        if (context.RequestServices.GetService<IWebhookEvents>() is not { } events)
        {
            return;
        }
        try
        {
            await events.PublishAsync(job.TeamId, WebhookEventTypes.For(job.Kind, job.Status), job.Id, body, CancellationToken.None);
        }
        catch (Exception ex)
        {
            // The cancel stands; only its notification is missing, and the job shows its status to anyone who asks.
            logs.CreateLogger("Aurous.Api.Generation").LogError(ex, "Could not publish the {Status} event of {JobId}", job.Status, job.Id);
        }
    }

    private static IResult NotFound(HttpContext context, JobKind kind, string id) => ApiError.NotFound(
        kind == JobKind.Image ? "image_not_found" : "video_not_found",
        $"No {(kind == JobKind.Image ? "image" : "video")} job '{id}' exists for your team.").ToResult(context);

    private static async Task<(JsonElement Body, GenerationRequest? Request, ApiError? Error)> ReadAsync(
        HttpContext context, JobKind kind, ModelCatalog models, LoraCatalog loras)
    {
        var (body, bodyError) = await JsonBody.ReadAsync(context);
        if (bodyError is not null)
        {
            return (body, null, bodyError);
        }
        var (request, error) = GenerationRequest.Parse(body, kind, models, loras);
        return (body, request, error);
    }

    /// <summary>The W3C traceparent of this request, stored with the job so its run continues this trace.</summary>
    private static string? TraceParent() => Activity.Current is { IdFormat: ActivityIdFormat.W3C } activity ? activity.Id : null;

    /// <summary>An estimate: the create's fields that decide the price, and the price; no job, no seed, nothing charged.</summary>
    private static byte[] RenderEstimate(GenerationRequest request)
    {
        var spec = request.Spec;
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("object", request.Modality + ".estimate");
            w.WriteString("model", spec.Model);
            w.WriteString("size", spec.Size);
            w.WriteNumber("width", spec.Width);
            w.WriteNumber("height", spec.Height);
            w.WriteNumber("n", spec.N);
            if (request.Kind == JobKind.Video)
            {
                w.WriteNumber("duration_seconds", spec.DurationSeconds!.Value);
                w.WriteNumber("frames", GenerationSizes.VideoFrames(spec.DurationSeconds.Value));
            }
            if (spec.LoraId is null)
            {
                w.WriteNull("lora_id");
            }
            else
            {
                w.WriteString("lora_id", spec.LoraId);
            }
            w.WriteNumber("credits", Balance.Credits.Normalize(request.Credits));
            w.WriteStartObject("usage");
            w.WriteNumber("output_tokens", request.OutputTokens);
            w.WriteNumber("credits_estimated", Balance.Credits.Normalize(request.Credits));
            w.WriteNumber("credits_charged", 0);
            w.WriteStartObject("breakdown");
            w.WriteStartObject("output");
            w.WriteNumber(request.Modality, Balance.Credits.Normalize(request.Credits));
            w.WriteEndObject();
            w.WriteString("model", spec.Model);
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }
}
