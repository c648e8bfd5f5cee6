using Aurous.Jobs.Webhooks;

namespace Aurous.Api.Webhooks;

/// <summary>
/// The body of POST /v1/webhook_endpoints: <c>{url, events[], description?}</c>. Its JSON shape is checked here; what
/// the values may be, by <see cref="WebhookEndpointRules"/>, which the dashboard applies too.
/// </summary>
public sealed record WebhookEndpointRequest(string Url, IReadOnlyList<string> Events, string? Description)
{
    private static readonly HashSet<string> Known = ["url", "events", "description"];

    public static async Task<(WebhookEndpointRequest? Request, ApiError? Error)> ParseAsync(JsonElement body, bool allowPrivateNetworks, CancellationToken ct)
    {
        if (JsonFields.KnownObject(body, Known) is { } bodyError)
        {
            return (null, bodyError);
        }
        if (JsonFields.RequiredString(body, "url", "Give the https URL that should receive the events.", out var url) is { } urlError)
        {
            return (null, urlError);
        }
        if (JsonFields.OptionalString(body, "description", out var description) is { } descriptionError)
        {
            return (null, descriptionError);
        }
        if (WebhookEndpointRules.CheckDescription(description) is { } tooLong)
        {
            return (null, ToError(tooLong));
        }
        var (events, eventsError) = ParseEvents(body);
        if (eventsError is not null)
        {
            return (null, eventsError);
        }
        if (await WebhookEndpointRules.CheckUrlAsync(url, allowPrivateNetworks, ct) is { } forbidden)
        {
            return (null, ToError(forbidden));
        }
        return (new WebhookEndpointRequest(url, events!, description), null);
    }

    /// <summary>The JSON shape of <c>events</c> is checked here; which names are allowed, by the shared rules.</summary>
    private static (IReadOnlyList<string>? Events, ApiError? Error) ParseEvents(JsonElement body)
    {
        if (!JsonFields.TryGet(body, "events", out var array))
        {
            return (null, JsonFields.Missing("events", WebhookEndpointRules.EventsHint));
        }
        if (array.ValueKind != JsonValueKind.Array)
        {
            return (null, JsonFields.InvalidType("events", "an array of strings", array));
        }
        var names = new List<string>();
        var i = 0;
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String)
            {
                return (null, JsonFields.InvalidType($"events[{i}]", "a string", item));
            }
            names.Add(item.GetString()!);
            i++;
        }
        var (events, problem) = WebhookEndpointRules.CheckEvents(names);
        return problem is null ? (events, null) : (null, ToError(problem));
    }

    private static ApiError ToError(WebhookEndpointProblem problem) => ApiError.InvalidRequest(problem.Code, problem.Message);
}
