using Microsoft.OpenApi;
using static Aurous.Api.OpenApi.SchemaSet;

namespace Aurous.Api.OpenApi;

/// <summary>POST /v1/embeddings and POST /v1/embeddings/estimate.</summary>
internal static class EmbeddingSchemas
{
    public static void AddTo(SchemaSet set)
    {
        AddInputPart(set);
        var user = String("End-user identifier for your records.");
        user.MaxLength = 256;
        set.Add("EmbeddingRequest", Object(null,
            Required("model", String("Public model slug, exactly as listed by GET /v1/models.")),
            Required("input", OneOf(
                "A string, or an array of content parts (text, image_url, video_url) embedded together into one vector. "
                + "An array of strings is refused (embeddings_batch_not_supported).",
                String(), Array(set.Ref("EmbeddingInputPart")))),
            Optional("dimensions", Integer("One of the model's aurous_metadata.dimensions; otherwise 400 embeddings_unsupported_dimensions.")),
            Optional("encoding_format", Enum("Accepted for OpenAI SDK compatibility; vectors are always floats.", "float", "base64")),
            Optional("user", user)));

        set.Add("EmbeddingList", List(set, withVector: true, "Embedding created."));
        set.Add("EmbeddingEstimate", List(set, withVector: false, "The answer POST /v1/embeddings would give, without the vector; nothing is charged."));
    }

    private static void AddInputPart(SchemaSet set)
    {
        var url = Object(null, Required("url", String("An https URL or a data: URL.")));
        set.Add("EmbeddingInputPart", OneOf("One content part.",
            Object(null, Required("type", Const("text")), Required("text", String())),
            Object(null, Required("type", Const("image_url")), Required("image_url", url)),
            Object(null, Required("type", Const("video_url")), Required("video_url", url))));
    }

    private static OpenApiSchema List(SchemaSet set, bool withVector, string description)
    {
        var item = withVector
            ? Object(null, Required("object", Const("embedding")), Required("index", Integer()), Required("embedding", Array(Number())))
            : Object(null, Required("object", Const("embedding")), Required("index", Integer()));
        return Object(description,
            Required("object", Const("list")),
            Required("data", Array(item, "Always one item: one combined vector per request.")),
            Required("model", String("The model slug used for this request.")),
            Required("usage", set.Ref(CommonSchemas.Usage)));
    }

    public static IEnumerable<OperationDoc> Operations()
    {
        string[] request =
        [
            "model_not_found", "model_not_supported", "model_unavailable", "embeddings_batch_not_supported", "embeddings_unsupported_dimensions",
            "embeddings_empty_input", "embeddings_invalid_part", "embeddings_unknown_part_type", "embeddings_too_many_items",
            "embeddings_token_input_not_supported", "embeddings_context_length_exceeded", "invalid_input", "invalid_encoding_format", "invalid_user",
            "invalid_media_url",
        ];
        return
        [
            new("CreateEmbedding", "EmbeddingRequest", [SuccessDoc.Json(200, "Embedding created.", "EmbeddingList")],
                [.. ErrorCatalog.TokenMetered, .. request, "inference_timeout"]),
            new("EstimateEmbedding", "EmbeddingRequest", [SuccessDoc.Json(200, "The usage and credits, without the vector.", "EmbeddingEstimate")],
                [.. ErrorCatalog.JsonBody, .. request]),
        ];
    }
}
