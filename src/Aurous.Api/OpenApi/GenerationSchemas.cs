using Aurous.Api.Generation;
using Aurous.Jobs;
using Aurous.Models;
using Microsoft.OpenApi;
using static Aurous.Api.OpenApi.SchemaSet;

namespace Aurous.Api.OpenApi;

/// <summary>POST/GET /v1/images and /v1/videos (asynchronous jobs), their estimates, and GET /v1/outputs/{token}.</summary>
internal static class GenerationSchemas
{
    public static void AddTo(SchemaSet set)
    {
        foreach (var (kind, noun) in new[] { (JobKind.Image, "Image"), (JobKind.Video, "Video") })
        {
            var video = kind == JobKind.Video;
            var sizes = (video ? GenerationSizes.Videos : GenerationSizes.Images).Select(s => s.Name).ToArray();
            var prompt = String($"What to generate; at most {GenerationRequest.MaxPromptLength} characters.");
            prompt.MaxLength = GenerationRequest.MaxPromptLength;
            var shape = video
                ? Optional("duration_seconds", Number($"From {GenerationSizes.MinVideoSeconds} to {GenerationSizes.MaxVideoSeconds}; default {GenerationSizes.DefaultVideoSeconds}."))
                : Optional("n", Integer($"How many images, {GenerationRequest.MinImages} to {GenerationRequest.MaxImages}; default 1."));
            set.Add($"{noun}Request", Object(null,
                Optional("model", String($"Default {(video ? GenerationRequest.DefaultVideoModel : GenerationRequest.DefaultImageModel)}.")),
                Required("prompt", prompt),
                Optional("negative_prompt", String("What to keep out of the result.")),
                Optional("size", Enum($"Default {(video ? GenerationSizes.DefaultVideoSize : GenerationSizes.DefaultImageSize)}.", sizes)),
                shape,
                Optional("seed", Integer("Makes the job reproducible; drawn when absent.")),
                Optional("lora_id", String("A style from GET /v1/loras; absent: the dispatcher picks one from the prompt."))));

            var videoFields = video ? new[] { Required("duration_seconds", Number()), Required("frames", Integer()) } : [];
            set.Add(noun, Object($"A {noun.ToLowerInvariant()} generation job; poll it until status is terminal, or register a webhook.",
                [
                    Required("id", String()), Required("object", Const(noun.ToLowerInvariant())), Required("model", String()),
                    Required("status", Enum(null, [JobStatus.Pending, JobStatus.Processing, .. JobStatus.Terminal])),
                    Required("prompt", String()), Required("negative_prompt", OrNull(String())), Required("size", String()),
                    Required("width", Integer()), Required("height", Integer()), Required("n", Integer()), .. videoFields,
                    Required("seed", Integer()), Required("lora_id", OrNull(String())), Required("lora_source", OrNull(String())),
                    Required("output_urls", Array(String(), "Anonymous-read URLs once succeeded; they expire (410 output_expired).")),
                    Required("usage", set.Ref("JobUsage")),
                    Required("error", OrNull(Object(null, Required("code", String()), Required("message", String())))),
                    Required("created_at", Timestamp()), Required("started_at", OrNull(Timestamp())),
                    Required("completed_at", OrNull(Timestamp())), Required("expires_at", OrNull(Timestamp())),
                ]));
            set.Add($"{noun}List", Object(null,
                Required("object", Const("list")), Required("data", Array(set.Ref(noun))),
                Required("first_id", OrNull(String())), Required("last_id", OrNull(String())), Required("has_more", Boolean())));
            set.Add($"{noun}Estimate", Object("The price of the request; no job is created and nothing is charged.",
                [
                    Required("object", Const($"{noun.ToLowerInvariant()}.estimate")), Required("model", String()), Required("size", String()),
                    Required("width", Integer()), Required("height", Integer()), Required("n", Integer()), .. videoFields,
                    Required("lora_id", OrNull(String())), Required("credits", Number()), Required("usage", set.Ref("JobUsage")),
                ]));
        }
        set.Add("JobUsage", Object(null,
            Required("output_tokens", Integer()), Required("credits_estimated", Number()), Required("credits_charged", Number()),
            Required("breakdown", Object("Credits per direction and modality (output.image or output.video), and the model.",
                Required("output", Map(Number())), Required("model", String())))));
    }

    public static IEnumerable<OperationDoc> Operations()
    {
        foreach (var noun in new[] { "Image", "Video" })
        {
            string[] request =
            [
                "model_not_found", "model_not_supported", "empty_prompt", "prompt_too_long", "invalid_size",
                noun == "Image" ? "invalid_n" : "invalid_duration", "invalid_seed", "lora_not_found", "lora_model_mismatch",
            ];
            var notFound = noun == "Image" ? "image_not_found" : "video_not_found";
            yield return new($"Create{noun}", $"{noun}Request", [SuccessDoc.Json(202, "The job, pending.", noun)],
                [.. ErrorCatalog.Metered, .. request, "queue_unavailable"]);
            yield return new($"Estimate{noun}", $"{noun}Request", [SuccessDoc.Json(200, "The estimate.", $"{noun}Estimate")],
                [.. ErrorCatalog.JsonBody, .. request]);
            yield return new($"List{noun}s", null, [SuccessDoc.Json(200, "A page of jobs, newest first.", $"{noun}List")],
                [.. ErrorCatalog.Authenticated, "invalid_limit", "invalid_cursor"]);
            yield return new($"Get{noun}", null, [SuccessDoc.Json(200, "The job.", noun)], [.. ErrorCatalog.Authenticated, notFound]);
            yield return new($"Cancel{noun}", null,
                [SuccessDoc.Json(200, "A pending job, now cancelled.", noun), SuccessDoc.Json(202, "A processing job; it stops within a step.", noun)],
                [.. ErrorCatalog.Authenticated, notFound, "job_not_cancellable"]);
        }
        yield return new("GetOutput", null,
            [
                new(200, "The output's bytes.", new Dictionary<string, string?> { ["image/png"] = null, ["video/mp4"] = null }),
                new(206, "The requested byte range.", new Dictionary<string, string?> { ["image/png"] = null, ["video/mp4"] = null }),
            ],
            [.. ErrorCatalog.AnyRoute, "output_not_found", "output_expired", "range_not_satisfiable"]);
    }
}
