using static Aurous.Api.OpenApi.SchemaSet;

namespace Aurous.Api.OpenApi;

/// <summary>GET /v1/models, GET /v1/balance and GET /v1/loras: the catalogue and the team's credits.</summary>
internal static class ModelSchemas
{
    public static void AddTo(SchemaSet set)
    {
        var perModality = Map(Number(), "Credits per 1M tokens, per modality.");
        set.Add("Model", Object("A model this deployment serves.",
            Required("id", String("The public model slug.")),
            Required("object", Const("model")),
            Required("created", Timestamp()),
            Required("owned_by", String()),
            Required("kind", Enum(null, "chat", "embedding", "image", "video")),
            Required("aurous_metadata", Object("The Aurous extension of the OpenAI model row.",
                Required("context_window", Integer("The model's nominal context window.")),
                Required("served_context_window", OrNull(Integer("The longest request (prompt + max_tokens) served now; null until the worker reports it."))),
                Required("dimensions", OrNull(Array(Integer(), "Supported embedding dimensions; null when the model takes none."))),
                Required("max_input_items", OrNull(Integer("Most content parts in one embedding input."))),
                Required("capabilities", Array(String())),
                Required("aliases", Array(String(), "Other names the model answers to.")),
                Required("credit_rates", Object(null,
                    Required("unit", Const("credits_per_1m_tokens")), Required("input", perModality), Required("output", perModality)))))));
        set.Add("ModelList", Object(null, Required("object", Const("list")), Required("data", Array(set.Ref("Model")))));

        set.Add("Balance", Object("The team's credits.",
            Required("credits", Number("Credits granted minus credits charged.")),
            Required("held_credits", Number("Credits held by requests in flight.")),
            Required("available_credits", Number("credits minus held_credits: what new requests can hold.")),
            Required("currency", Const("credit"))));

        set.Add("Lora", Object("A LoRA style for image and video generation.",
            Required("id", String()), Required("object", Const("lora")), Required("name", String()), Required("description", String()),
            Required("trigger_words", Array(String())), Required("base_model", String()), Required("created", Timestamp()),
            Required("preview_url", String("A PNG preview, readable without an API key."))));
        set.Add("LoraList", Object(null, Required("object", Const("list")), Required("data", Array(set.Ref("Lora")))));
    }

    public static IEnumerable<OperationDoc> Operations() =>
    [
        new("ListModels", null, [SuccessDoc.Json(200, "The models.", "ModelList")], ErrorCatalog.Authenticated),
        new("GetModel", null, [SuccessDoc.Json(200, "The model.", "Model")], [.. ErrorCatalog.Authenticated, "model_not_found"]),
        new("GetBalance", null, [SuccessDoc.Json(200, "The balance.", "Balance")], ErrorCatalog.Authenticated),
        new("ListLoras", null, [SuccessDoc.Json(200, "The LoRA styles.", "LoraList")], ErrorCatalog.Authenticated),
        new("GetLora", null, [SuccessDoc.Json(200, "The LoRA style.", "Lora")], [.. ErrorCatalog.Authenticated, "lora_not_found"]),
        new("GetLoraPreview", null, [new(200, "The preview image.", new Dictionary<string, string?> { ["image/png"] = null })],
            [.. ErrorCatalog.AnyRoute, "lora_not_found"]),
    ];
}
