using Aurous.Accounts;
using Aurous.Jobs.Webhooks;
using Microsoft.Extensions.Options;

namespace Aurous.Api.Webhooks;

/// <summary>
/// /v1/webhook_endpoints: a team's webhook endpoints (reading needs management:read, changes management:write):
/// create (the signing secret is shown once), list, get, delete, send a test event, rotate the secret (the old one
/// signs too for the grace period), read the delivery log, enable again after the failure rule disabled it.
/// </summary>
public static class WebhookEndpointsApi
{
    public const int MaxLogLimit = 100;

    public static RouteGroupBuilder MapWebhookEndpointsApi(this RouteGroupBuilder v1)
    {
        var group = v1.MapGroup("/webhook_endpoints").WithTags("Webhooks");
        group.MapPost("/", Create).WithName("CreateWebhookEndpoint").RequireScope(ApiKeyScopes.ManagementWrite)
            .WithSummary("Registers an endpoint for job events; the answer carries its whsec_ signing secret, shown only this once.")
            .Accepts<JsonElement>("application/json")
            .Produces<WebhookEndpointView>(StatusCodes.Status201Created).ProducesErrors(400, 403);
        group.MapGet("/", List).WithName("ListWebhookEndpoints").RequireScope(ApiKeyScopes.ManagementRead).WithSummary("Lists the team's webhook endpoints (without secrets).")
            .Produces<WebhookEndpointList>().ProducesErrors(403);
        group.MapGet("/{id}", Get).WithName("GetWebhookEndpoint").RequireScope(ApiKeyScopes.ManagementRead).WithSummary("Returns one webhook endpoint (without its secret).")
            .Produces<WebhookEndpointView>().ProducesErrors(404, 403);
        group.MapDelete("/{id}", Delete).WithName("DeleteWebhookEndpoint").RequireScope(ApiKeyScopes.ManagementWrite).WithSummary("Deletes the endpoint; its pending deliveries stop.")
            .Produces<WebhookEndpointDeleted>().ProducesErrors(404, 403);
        group.MapPost("/{id}/test", Test).WithName("TestWebhookEndpoint").RequireScope(ApiKeyScopes.ManagementWrite)
            .WithSummary("Sends a signed webhook.test event to the endpoint; follow it in the delivery log.")
            .Produces<WebhookTestSent>(StatusCodes.Status202Accepted).ProducesErrors(404, 409, 403);
        group.MapPost("/{id}/rotate_secret", Rotate).WithName("RotateWebhookSecret").RequireScope(ApiKeyScopes.ManagementWrite)
            .WithSummary("Replaces the signing secret (shown once); for 24 hours deliveries carry signatures by both the old and the new secret.")
            .Produces<WebhookEndpointView>().ProducesErrors(404, 403);
        group.MapGet("/{id}/deliveries", Deliveries).WithName("ListWebhookDeliveries").RequireScope(ApiKeyScopes.ManagementRead)
            .WithSummary("The endpoint's delivery log, newest attempt first: status code, latency, error, next retry, delivered at.")
            .Produces<WebhookDeliveryLog>().ProducesErrors(400, 404, 403);
        group.MapPost("/{id}/enable", Enable).WithName("EnableWebhookEndpoint").RequireScope(ApiKeyScopes.ManagementWrite)
            .WithSummary("Enables an endpoint again after it was disabled for failing; new events are delivered again.")
            .Produces<WebhookEndpointView>().ProducesErrors(404, 403);
        return group;
    }

    private static async Task<IResult> Create(HttpContext context, WebhookStore store, IOptions<WebhookOptions> options, TimeProvider clock)
    {
        var (body, bodyError) = await JsonBody.ReadAsync(context);
        if (bodyError is not null)
        {
            return bodyError.ToResult(context);
        }
        var (request, error) = await WebhookEndpointRequest.ParseAsync(body, options.Value.AllowPrivateNetworks, context.RequestAborted);
        if (error is not null)
        {
            return error.ToResult(context);
        }
        var now = clock.GetUtcNow();
        var endpoint = await store.CreateEndpointAsync(RequestContext.Of(context).TeamId, request!.Url, request.Description, request.Events,
            WebhookSigner.NewSecret(), options.Value.MaxEndpointsPerTeam, now, context.RequestAborted);
        if (endpoint is null)
        {
            return ApiError.InvalidRequest("too_many_webhook_endpoints",
                $"A team may have at most {options.Value.MaxEndpointsPerTeam} webhook endpoints; delete one first.").ToResult(context);
        }
        return TypedResults.Created($"/v1/webhook_endpoints/{endpoint.Id}", WebhookEndpointView.From(endpoint, now, withSecret: true));
    }

    private static async Task<IResult> List(HttpContext context, WebhookStore store, TimeProvider clock)
    {
        var endpoints = await store.ListEndpointsAsync(RequestContext.Of(context).TeamId, context.RequestAborted);
        var now = clock.GetUtcNow();
        return TypedResults.Ok(new WebhookEndpointList("list", endpoints.Select(e => WebhookEndpointView.From(e, now)).ToList(), false));
    }

    private static async Task<IResult> Get(string id, HttpContext context, WebhookStore store, TimeProvider clock) =>
        await store.GetEndpointAsync(RequestContext.Of(context).TeamId, id, context.RequestAborted) is { } endpoint
            ? TypedResults.Ok(WebhookEndpointView.From(endpoint, clock.GetUtcNow()))
            : NotFound(context, id);

    private static async Task<IResult> Delete(string id, HttpContext context, WebhookStore store, TimeProvider clock) =>
        await store.DeleteEndpointAsync(RequestContext.Of(context).TeamId, id, clock.GetUtcNow(), context.RequestAborted)
            ? TypedResults.Ok(new WebhookEndpointDeleted(id, "webhook_endpoint", true))
            : NotFound(context, id);

    private static async Task<IResult> Test(string id, HttpContext context, WebhookStore store, WebhookEvents events)
    {
        var endpoint = await store.GetEndpointAsync(RequestContext.Of(context).TeamId, id, context.RequestAborted);
        if (endpoint is null)
        {
            return NotFound(context, id);
        }
        if (!endpoint.IsEnabled)
        {
            return new ApiError(409, "invalid_request", "webhook_endpoint_disabled",
                $"The endpoint {id} is disabled ({endpoint.DisabledReason}). Enable it with POST /v1/webhook_endpoints/{id}/enable first.").ToResult(context);
        }
        var eventId = await events.PublishTestAsync(endpoint, context.RequestAborted);
        return TypedResults.Accepted($"/v1/webhook_endpoints/{id}/deliveries", new WebhookTestSent(eventId, "webhook_event", Jobs.WebhookEventTypes.Test, id));
    }

    private static async Task<IResult> Rotate(string id, HttpContext context, WebhookStore store, IOptions<WebhookOptions> options, TimeProvider clock)
    {
        var now = clock.GetUtcNow();
        var endpoint = await store.RotateSecretAsync(RequestContext.Of(context).TeamId, id, WebhookSigner.NewSecret(), now + options.Value.RotationGrace, context.RequestAborted);
        return endpoint is null ? NotFound(context, id) : TypedResults.Ok(WebhookEndpointView.From(endpoint, now, withSecret: true));
    }

    private static async Task<IResult> Deliveries(string id, HttpContext context, WebhookStore store, int? limit)
    {
        if (limit is < 1 or > MaxLogLimit)
        {
            return ApiError.InvalidRequest("invalid_limit", $"'limit' must be between 1 and {MaxLogLimit}.").ToResult(context);
        }
        if (await store.GetEndpointAsync(RequestContext.Of(context).TeamId, id, context.RequestAborted) is null)
        {
            return NotFound(context, id);
        }
        var take = limit ?? 20;
        var rows = await store.ListAttemptsAsync(id, take + 1, context.RequestAborted);
        return TypedResults.Ok(new WebhookDeliveryLog("list", rows.Take(take).Select(WebhookDeliveryAttemptView.From).ToList(), rows.Count > take));
    }

    private static async Task<IResult> Enable(string id, HttpContext context, WebhookStore store, TimeProvider clock) =>
        await store.EnableAsync(RequestContext.Of(context).TeamId, id, context.RequestAborted) is { } endpoint
            ? TypedResults.Ok(WebhookEndpointView.From(endpoint, clock.GetUtcNow()))
            : NotFound(context, id);

    private static IResult NotFound(HttpContext context, string id) =>
        ApiError.NotFound("webhook_endpoint_not_found", $"No webhook endpoint '{id}' exists for this team.").ToResult(context);
}
