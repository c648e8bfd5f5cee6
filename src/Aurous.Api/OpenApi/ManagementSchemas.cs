using Aurous.Accounts;
using Aurous.Jobs;
using Aurous.Jobs.Webhooks;
using static Aurous.Api.OpenApi.SchemaSet;

namespace Aurous.Api.OpenApi;

/// <summary>
/// /v1/keys, /v1/team and /v1/webhook_endpoints. Their answers are typed records, so the document describes them from
/// the types; the request bodies, read by hand, are written here.
/// </summary>
internal static class ManagementSchemas
{
    public static void AddTo(SchemaSet set)
    {
        var name = String($"A label for the key; at most {ApiKeyStore.MaxNameLength} characters.");
        name.MaxLength = ApiKeyStore.MaxNameLength;
        set.Add("CreateApiKeyRequest", Object(null,
            Required("name", name),
            Optional("scopes", Array(Enum(null, [.. ApiKeyScopes.All]), "What the key may call; default: the inference scopes."))));

        set.Add("UpdateTeamRequest", Object(null,
            Required("api_version", String("A released API version (YYYY-MM-DD): what requests without Aurous-Version get."))));

        var description = String($"At most {WebhookEndpointRules.MaxDescriptionLength} characters.");
        description.MaxLength = WebhookEndpointRules.MaxDescriptionLength;
        set.Add("CreateWebhookEndpointRequest", Object(null,
            Required("url", String("The https URL that receives the signed events.")),
            Required("events", Array(Enum(null, [.. WebhookEventTypes.All]), "The events to deliver.")),
            Optional("description", description)));
    }

    public static IEnumerable<OperationDoc> Operations()
    {
        string[] key = [.. ErrorCatalog.Authenticated, "api_key_not_found"];
        string[] endpoint = [.. ErrorCatalog.Authenticated, "webhook_endpoint_not_found"];
        return
        [
            new("ListApiKeys", null, null, ErrorCatalog.Authenticated),
            new("GetApiKey", null, null, key),
            new("CreateApiKey", "CreateApiKeyRequest", null, [.. ErrorCatalog.JsonBody, "invalid_scope", "name_too_long"]),
            new("RotateApiKey", null, null, [.. key, "api_key_not_active"]),
            new("RevokeApiKey", null, null, [.. key, "api_key_not_active"]),
            new("GetTeam", null, null, ErrorCatalog.Authenticated),
            new("UpdateTeam", "UpdateTeamRequest", null, ErrorCatalog.JsonBody),
            new("CreateWebhookEndpoint", "CreateWebhookEndpointRequest", null,
                [.. ErrorCatalog.JsonBody, "invalid_webhook_url", "invalid_webhook_event", "description_too_long", "too_many_webhook_endpoints"]),
            new("ListWebhookEndpoints", null, null, ErrorCatalog.Authenticated),
            new("GetWebhookEndpoint", null, null, endpoint),
            new("DeleteWebhookEndpoint", null, null, endpoint),
            new("TestWebhookEndpoint", null, null, [.. endpoint, "webhook_endpoint_disabled"]),
            new("RotateWebhookSecret", null, null, endpoint),
            new("ListWebhookDeliveries", null, null, [.. endpoint, "invalid_limit"]),
            new("EnableWebhookEndpoint", null, null, endpoint),
        ];
    }
}
