using System.Net.Sockets;
using Aurous.ServiceDefaults.Network;

namespace Aurous.Jobs.Webhooks;

/// <summary>What is wrong with a webhook endpoint's settings: the field, a stable code and a sentence for people.</summary>
public sealed record WebhookEndpointProblem(string Field, string Code, string Message);

/// <summary>
/// The rules a webhook endpoint's URL, events and description must meet, shared by the REST API
/// (POST /v1/webhook_endpoints) and the dashboard, so both accept and refuse the same endpoints with the same words.
/// The URL must be http(s), without credentials, and resolve to a public internet address (the services' outbound
/// rule, unless <see cref="WebhookOptions.AllowPrivateNetworks"/>); the worker checks the address again on every
/// connection.
/// </summary>
public static class WebhookEndpointRules
{
    public const int MaxUrlLength = 2048;
    public const int MaxDescriptionLength = 512;

    public static readonly string EventsHint = $"List the event types to receive, from: {string.Join(", ", WebhookEventTypes.All)}.";

    /// <summary>Checks the URL's form, then that its host resolves to an allowed address (at most 5 s of DNS).</summary>
    public static async Task<WebhookEndpointProblem?> CheckUrlAsync(string url, bool allowPrivateNetworks, CancellationToken ct)
    {
        if (url.Length > MaxUrlLength)
        {
            return Url("invalid_webhook_url", $"'url' is limited to {MaxUrlLength} characters.");
        }
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp))
        {
            return Url("invalid_webhook_url", "'url' must be an absolute https:// (or http://) URL.");
        }
        if (uri.UserInfo.Length > 0)
        {
            return Url("invalid_webhook_url", "'url' must not contain credentials; authenticate deliveries by their signature.");
        }
        var host = uri.IdnHost.Trim('[', ']');
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(5));
            if ((await OutboundAddressPolicy.AllowedAddressesAsync(host, allowPrivateNetworks, timeout.Token)).Length == 0)
            {
                // Never names the address: the answer would let a caller map internal DNS names.
                return Url("webhook_url_forbidden",
                    $"'{uri.Host}' does not resolve to a public internet address; webhook endpoints must be on the public internet.");
            }
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException && !ct.IsCancellationRequested)
        {
            return Url("invalid_webhook_url", $"The host '{uri.Host}' could not be resolved.");
        }
        return null;
    }

    /// <summary>The event types, without duplicates, in the order given; a problem for an unknown type or none at all.</summary>
    public static (IReadOnlyList<string>? Events, WebhookEndpointProblem? Problem) CheckEvents(IEnumerable<string> names)
    {
        var events = new List<string>();
        foreach (var name in names)
        {
            if (!WebhookEventTypes.All.Contains(name))
            {
                return (null, new("events", "invalid_webhook_event", $"'{name}' is not an event type. {EventsHint}"));
            }
            if (!events.Contains(name))
            {
                events.Add(name);
            }
        }
        return events.Count == 0
            ? (null, new("events", "missing_required_parameter", $"Missing required parameter: 'events'. {EventsHint}"))
            : (events, null);
    }

    public static WebhookEndpointProblem? CheckDescription(string? description) => description?.Length > MaxDescriptionLength
        ? new("description", "description_too_long", $"'description' is limited to {MaxDescriptionLength} characters.")
        : null;

    private static WebhookEndpointProblem Url(string code, string message) => new("url", code, message);
}
