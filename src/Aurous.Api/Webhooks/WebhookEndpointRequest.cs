using System.Net.Sockets;
using System.Text.Json;
using Aurous.Api.Pipeline;
using Aurous.Jobs;
using Aurous.ServiceDefaults.Network;

namespace Aurous.Api.Webhooks;

/// <summary>
/// The body of POST /v1/webhook_endpoints: <c>{url, events[], description?}</c>, validated. The URL must be http(s),
/// without credentials, and resolve to a public internet address (the services' outbound rule, unless
/// <c>Webhooks:AllowPrivateNetworks</c>); the worker checks the address again on every connection.
/// </summary>
public sealed record WebhookEndpointRequest(string Url, IReadOnlyList<string> Events, string? Description)
{
    public const int MaxUrlLength = 2048;
    public const int MaxDescriptionLength = 512;

    private static readonly HashSet<string> Known = ["url", "events", "description"];

    public static async Task<(WebhookEndpointRequest? Request, ApiError? Error)> ParseAsync(JsonElement body, bool allowPrivateNetworks, CancellationToken ct)
    {
        if (body.ValueKind != JsonValueKind.Object)
        {
            return (null, ApiError.InvalidRequest("invalid_type", $"The request body must be a JSON object, not {JsonFields.Describe(body)}."));
        }
        if (JsonFields.UnknownField(body, Known) is { } unknown)
        {
            return (null, unknown);
        }
        if (JsonFields.RequiredString(body, "url", "Give the https URL that should receive the events.", out var url) is { } urlError)
        {
            return (null, urlError);
        }
        if (JsonFields.OptionalString(body, "description", out var description) is { } descriptionError)
        {
            return (null, descriptionError);
        }
        if (description?.Length > MaxDescriptionLength)
        {
            return (null, ApiError.InvalidRequest("description_too_long", $"'description' is limited to {MaxDescriptionLength} characters."));
        }
        var (events, eventsError) = ParseEvents(body);
        if (eventsError is not null)
        {
            return (null, eventsError);
        }
        if (await CheckUrlAsync(url, allowPrivateNetworks, ct) is { } forbidden)
        {
            return (null, forbidden);
        }
        return (new WebhookEndpointRequest(url, events!, description), null);
    }

    private static (IReadOnlyList<string>? Events, ApiError? Error) ParseEvents(JsonElement body)
    {
        var hint = $"List the event types to receive, from: {string.Join(", ", WebhookEventTypes.All)}.";
        if (!JsonFields.TryGet(body, "events", out var array))
        {
            return (null, JsonFields.Missing("events", hint));
        }
        if (array.ValueKind != JsonValueKind.Array)
        {
            return (null, JsonFields.InvalidType("events", "an array of strings", array));
        }
        var events = new List<string>();
        var i = 0;
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String)
            {
                return (null, JsonFields.InvalidType($"events[{i}]", "a string", item));
            }
            var name = item.GetString()!;
            if (!WebhookEventTypes.All.Contains(name))
            {
                return (null, ApiError.InvalidRequest("invalid_webhook_event", $"'{name}' is not an event type. {hint}"));
            }
            if (!events.Contains(name))
            {
                events.Add(name);
            }
            i++;
        }
        return events.Count == 0 ? (null, JsonFields.Missing("events", hint)) : (events, null);
    }

    private static async Task<ApiError?> CheckUrlAsync(string url, bool allowPrivateNetworks, CancellationToken ct)
    {
        if (url.Length > MaxUrlLength)
        {
            return ApiError.InvalidRequest("invalid_webhook_url", $"'url' is limited to {MaxUrlLength} characters.");
        }
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp))
        {
            return ApiError.InvalidRequest("invalid_webhook_url", "'url' must be an absolute https:// (or http://) URL.");
        }
        if (uri.UserInfo.Length > 0)
        {
            return ApiError.InvalidRequest("invalid_webhook_url", "'url' must not contain credentials; authenticate deliveries by their signature.");
        }
        var host = uri.IdnHost.Trim('[', ']');
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(5));
            if ((await OutboundAddressPolicy.AllowedAddressesAsync(host, allowPrivateNetworks, timeout.Token)).Length == 0)
            {
                // Never names the address: the answer would let a caller map internal DNS names.
                return ApiError.InvalidRequest("webhook_url_forbidden",
                    $"'{uri.Host}' does not resolve to a public internet address; webhook endpoints must be on the public internet.");
            }
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException && !ct.IsCancellationRequested)
        {
            return ApiError.InvalidRequest("invalid_webhook_url", $"The host '{uri.Host}' could not be resolved.");
        }
        return null;
    }
}
