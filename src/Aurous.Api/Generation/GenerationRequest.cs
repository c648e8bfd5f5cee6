using System.Security.Cryptography;
using Aurous.Api.Inference;
using Aurous.Api.Metering;
using Aurous.Jobs;
using Aurous.Models;

namespace Aurous.Api.Generation;

/// <summary>
/// A validated POST /v1/images or /v1/videos body (or its /estimate): the spec the runner will follow, the tokens it is
/// billed for (one token per 32 x 32 tile of every image, or of every video frame) and its exact price, which is the hold.
/// </summary>
public sealed record GenerationRequest(JobKind Kind, CatalogModel Model, GenerationSpec Spec, GenerationSize Size, long OutputTokens, decimal Credits)
{
    public const int MaxPromptLength = 4000;
    public const int MinImages = 1, MaxImages = 4;

    /// <summary>Seeds a client may send: what a JavaScript number holds exactly (0 to 2^53 - 1).</summary>
    public const long MaxSeed = (1L << 53) - 1;

    public const string DefaultImageModel = "aurous-canvas-1.0";
    public const string DefaultVideoModel = "aurous-motion-1.0";

    private static readonly HashSet<string> ImageFields = ["model", "prompt", "negative_prompt", "size", "n", "seed", "lora_id"];
    private static readonly HashSet<string> VideoFields = ["model", "prompt", "negative_prompt", "size", "duration_seconds", "seed", "lora_id"];

    /// <summary>The output modality the model's rate card prices: "image" or "video".</summary>
    public string Modality => Kind == JobKind.Image ? "image" : "video";

    public string Endpoint => JobStore.EndpointOf(Kind);

    /// <summary>The billed tokens, as a receipt records them.</summary>
    public string TokensJson => JsonSerializer.Serialize(new Dictionary<string, object> { ["output"] = new Dictionary<string, long> { [Modality] = OutputTokens } });

    /// <summary>The rates applied (credits per 1M tokens), as a receipt records them.</summary>
    public string RatesJson => JsonSerializer.Serialize(new { input = Model.Manifest.CreditRates.Input, output = Model.Manifest.CreditRates.Output });

    /// <summary>The price per modality, as a receipt records it.</summary>
    public string BreakdownJson => JsonSerializer.Serialize(new Dictionary<string, object> { ["output"] = new Dictionary<string, decimal> { [Modality] = Credits } });

    /// <summary>
    /// Validates a create (or estimate) body. Every mistake is a precise 400 (an unknown model a 404) raised before any
    /// credit is held. A seed the client did not give is drawn here, so the job (and any retried run of it) is reproducible.
    /// </summary>
    public static (GenerationRequest? Request, ApiError? Error) Parse(JsonElement body, JobKind kind, ModelCatalog models, LoraCatalog loras)
    {
        if (InferenceRequestFields.KnownObject(body, kind == JobKind.Image ? ImageFields : VideoFields) is { } bodyError)
        {
            return (null, bodyError);
        }

        var route = kind == JobKind.Image ? "/v1/images" : "/v1/videos";
        var wanted = kind == JobKind.Image ? ModelKind.Image : ModelKind.Video;
        if (JsonFields.OptionalString(body, "model", out var modelName) is { } modelTypeError)
        {
            return (null, modelTypeError);
        }
        modelName ??= kind == JobKind.Image ? DefaultImageModel : DefaultVideoModel;
        if (InferenceRequestFields.Model(modelName, models, wanted, route, out var model) is { } modelError)
        {
            return (null, modelError);
        }

        if (JsonFields.RequiredString(body, "prompt", "Describe what to generate.", out var prompt) is { } promptError)
        {
            return (null, promptError);
        }
        if (string.IsNullOrWhiteSpace(prompt))
        {
            return Fail("empty_prompt", "'prompt' is blank; describe what to generate.");
        }
        if (prompt.Length > MaxPromptLength)
        {
            return Fail("prompt_too_long", $"'prompt' is {prompt.Length} characters; at most {MaxPromptLength} are accepted.");
        }
        if (JsonFields.OptionalString(body, "negative_prompt", out var negative) is { } negativeError)
        {
            return (null, negativeError);
        }
        if (negative is { Length: > MaxPromptLength })
        {
            return Fail("prompt_too_long", $"'negative_prompt' is {negative.Length} characters; at most {MaxPromptLength} are accepted.");
        }
        if (negative is not null && string.IsNullOrWhiteSpace(negative))
        {
            negative = null;
        }

        var sizes = kind == JobKind.Image ? GenerationSizes.Images : GenerationSizes.Videos;
        if (JsonFields.OptionalString(body, "size", out var sizeName) is { } sizeTypeError)
        {
            return (null, sizeTypeError);
        }
        sizeName ??= kind == JobKind.Image ? GenerationSizes.DefaultImageSize : GenerationSizes.DefaultVideoSize;
        var size = sizes.FirstOrDefault(s => s.Name == sizeName);
        if (size is null)
        {
            return Fail("invalid_size", $"'size' must be one of {string.Join(", ", sizes.Select(s => s.Name))}; received '{sizeName}'.");
        }

        var n = 1;
        double? duration = null;
        long frames = 1;
        if (kind == JobKind.Image)
        {
            if (JsonFields.OptionalInteger(body, "n", MinImages, MaxImages, "invalid_n", out var count,
                    $"'n' must be an integer from {MinImages} to {MaxImages}.") is { } nError)
            {
                return (null, nError);
            }
            n = (int)(count ?? 1);
        }
        else
        {
            if (JsonFields.OptionalNumber(body, "duration_seconds", GenerationSizes.MinVideoSeconds, GenerationSizes.MaxVideoSeconds, "invalid_duration",
                    $"'duration_seconds' must be a number from {GenerationSizes.MinVideoSeconds} to {GenerationSizes.MaxVideoSeconds}.", out var seconds) is { } durationError)
            {
                return (null, durationError);
            }
            duration = seconds ?? GenerationSizes.DefaultVideoSeconds;
            frames = GenerationSizes.VideoFrames(duration.Value);
        }

        if (JsonFields.OptionalInteger(body, "seed", 0, MaxSeed, "invalid_seed", out var givenSeed, $"'seed' must be an integer from 0 to {MaxSeed}.") is { } seedError)
        {
            return (null, seedError);
        }
        var seed = givenSeed ?? RandomNumberGenerator.GetInt32(int.MaxValue);

        if (JsonFields.OptionalString(body, "lora_id", out var loraId) is { } loraTypeError)
        {
            return (null, loraTypeError);
        }
        if (loraId is not null)
        {
            if (!loras.TryGet(loraId, out var lora))
            {
                return Fail("lora_not_found", $"There is no LoRA '{loraId}'. GET /v1/loras lists them; omit lora_id to let the dispatcher pick a style.");
            }
            if (lora.Manifest.BaseModel != model.Manifest.Id)
            {
                return Fail("lora_model_mismatch", $"LoRA {loraId} is made for {lora.Manifest.BaseModel}, not {model.Manifest.Id}.");
            }
        }

        var tokens = size.TokensPerImage * (kind == JobKind.Image ? n : frames);
        var credits = Pricing.OutputAmount(model.Manifest, kind == JobKind.Image ? "image" : "video", tokens);
        var spec = new GenerationSpec(model.Manifest.Id, prompt, negative, size.Name, size.Width, size.Height, n, seed, loraId, duration);
        return (new GenerationRequest(kind, model, spec, size, tokens, credits), null);
    }

    private static (GenerationRequest?, ApiError?) Fail(string code, ErrorText message) => (null, ApiError.InvalidRequest(code, message));
}
