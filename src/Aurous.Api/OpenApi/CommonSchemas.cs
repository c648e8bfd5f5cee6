using static Aurous.Api.OpenApi.SchemaSet;

namespace Aurous.Api.OpenApi;

/// <summary>The schemas every feature shares: the error envelope and the usage block of metered answers.</summary>
internal static class CommonSchemas
{
    public const string Error = "Error";
    public const string Usage = "Usage";
    public const string UsageBreakdown = "UsageBreakdown";

    public static void AddTo(SchemaSet set)
    {
        set.Add(Error, Object("The envelope of every non-2xx answer.",
            Required("error", Object(null,
                Required("type", Enum("The error family.", "invalid_request", "authentication_error", "permission_error", "insufficient_credits",
                    "idempotency_error", "rate_limit_error", "api_error")),
                Required("code", String("The precise error code; the operation's responses list the codes it can answer with.")),
                Required("message", String("What went wrong and how to fix it, for a person.")),
                Required("doc_url", String("https://docs.aurous-labs.com/errors# followed by the code.")),
                Required("request_id", String("The Aurous-Request-Id of the response (req_<ULID>); quote it to support."))))));

        set.Add(UsageBreakdown, Object("The credits charged, per direction and modality.",
            Required("input", Object(null, Required("text", Number()), Required("visual", Number()), Required("video", Number()))),
            Optional("output", Object("Chat only.", Required("text", Number()))),
            Required("model", String("The model the rates are those of."))));

        set.Add(Usage, Object("Token and credit accounting for the request.",
            Required("prompt_tokens", Integer()),
            Optional("completion_tokens", Integer("Chat only.")),
            Required("total_tokens", Integer()),
            Required("credits_charged", Number("The credits this request cost.")),
            Required("breakdown", set.Ref(UsageBreakdown)),
            Optional("completion_tokens_details", Object("Chat only: reasoning tokens included in completion_tokens.", Required("reasoning_tokens", Integer()))),
            Optional("prompt_tokens_details", Object("Chat with images: visual tokens included in prompt_tokens.", Required("image_tokens", Integer())))));
    }
}
