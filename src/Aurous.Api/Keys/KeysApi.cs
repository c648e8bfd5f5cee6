using Aurous.Accounts;

namespace Aurous.Api.Keys;

/// <summary>
/// /v1/keys: the team's API keys over REST, through the same <see cref="ApiKeyStore"/> the dashboard uses. Reading
/// needs management:read, changes need management:write. A key never hands out more than it holds: creating a key with
/// a scope, or rotating a key that has one, which the calling key lacks is refused (403). Another team's key is not
/// found (404). A rotation or revocation answers once the key-cache notification has reached the instances, so the
/// revoked key's very next request fails on any of them. POSTs take no Idempotency-Key: a stored replay would have to
/// keep the plaintext secret.
/// </summary>
public static class KeysApi
{
    public static RouteGroupBuilder MapKeysApi(this RouteGroupBuilder v1)
    {
        var group = v1.MapGroup("/keys").WithTags("API keys");
        group.MapGet("/", List).WithName("ListApiKeys").RequireScope(ApiKeyScopes.ManagementRead)
            .WithSummary("Lists the team's API keys, newest first, revoked and rotated ones included (hints only, never secrets).")
            .Produces<ApiKeyList>().ProducesErrors(401, 403);
        group.MapGet("/{id}", Get).WithName("GetApiKey").RequireScope(ApiKeyScopes.ManagementRead)
            .WithSummary("Returns one of the team's API keys (its hint, never the secret).")
            .Produces<ApiKeyView>().ProducesErrors(401, 403, 404);
        group.MapPost("/", Create).WithName("CreateApiKey").RequireScope(ApiKeyScopes.ManagementWrite)
            .WithSummary("Creates a key with a name and scopes (default: chat, embeddings, images, videos); the answer carries the secret in 'key', shown only this once.")
            .Accepts<JsonElement>("application/json")
            .Produces<ApiKeyView>(StatusCodes.Status201Created).ProducesErrors(400, 401, 403);
        group.MapPost("/{id}/rotate", Rotate).WithName("RotateApiKey").RequireScope(ApiKeyScopes.ManagementWrite)
            .WithSummary("Issues a replacement with the same name and scopes (its secret shown once); the old key keeps working for 24 hours.")
            .Produces<ApiKeyRotation>().ProducesErrors(401, 403, 404, 409);
        group.MapPost("/{id}/revoke", Revoke).WithName("RevokeApiKey").RequireScope(ApiKeyScopes.ManagementWrite)
            .WithSummary("Revokes a key (active, or rotated and still in its grace period): every API instance refuses it from its next request on.")
            .Produces<ApiKeyView>().ProducesErrors(401, 403, 404, 409);
        return group;
    }

    private static async Task<IResult> List(HttpContext context, ApiKeyStore store, TimeProvider clock)
    {
        var keys = await store.ListAsync(RequestContext.Of(context).TeamId, context.RequestAborted);
        var now = clock.GetUtcNow();
        return TypedResults.Ok(new ApiKeyList("list", keys.Select(k => ApiKeyView.From(k, now)).ToList(), false));
    }

    private static async Task<IResult> Get(string id, HttpContext context, ApiKeyStore store, TimeProvider clock) =>
        await store.GetAsync(RequestContext.Of(context).TeamId, id, context.RequestAborted) is { } key
            ? TypedResults.Ok(ApiKeyView.From(key, clock.GetUtcNow()))
            : NotFound(context, id);

    private static async Task<IResult> Create(HttpContext context, ApiKeyStore store, TimeProvider clock)
    {
        var (body, bodyError) = await JsonBody.ReadAsync(context);
        if (bodyError is not null)
        {
            return bodyError.ToResult(context);
        }
        var (request, error) = CreateKeyRequest.Parse(body);
        if (error is not null)
        {
            return error.ToResult(context);
        }
        var caller = RequestContext.Of(context).ApiKey!;
        if (Exceeds(caller, request!.Scopes) is { } denied)
        {
            return denied.ToResult(context);
        }
        var created = await store.CreateKeyAsync(caller.TeamId, request.Name, request.Scopes, createdBy: caller.Id, context.RequestAborted);
        return TypedResults.Created($"/v1/keys/{created.Key.Id}", ApiKeyView.From(created.Key, clock.GetUtcNow(), created.Plaintext));
    }

    /// <summary>How long a change waits for its cache notification before evicting locally and answering anyway.</summary>
    private static readonly TimeSpan NotificationWait = TimeSpan.FromSeconds(2);

    private static async Task<IResult> Rotate(string id, HttpContext context, ApiKeyStore store, ApiKeyCache cache, TimeProvider clock)
    {
        var caller = RequestContext.Of(context).ApiKey!;
        var old = await store.GetAsync(caller.TeamId, id, context.RequestAborted);
        if (old is null)
        {
            return NotFound(context, id);
        }
        if (Exceeds(caller, old.Scopes) is { } denied)
        {
            return denied.ToResult(context);
        }
        var now = clock.GetUtcNow();
        var (outcome, replacement) = await cache.ChangeAndAwaitNotificationAsync(caller.TeamId,
            () => store.RotateAsync(caller.TeamId, id, caller.Id, now, context.RequestAborted), r => r.Outcome == KeyChangeOutcome.Done, NotificationWait);
        if (outcome != KeyChangeOutcome.Done)
        {
            return Refused(context, id, outcome, "rotated", "Only an active key can be rotated; rotate its replacement instead.");
        }
        var previous = await store.GetAsync(caller.TeamId, id, context.RequestAborted);
        return TypedResults.Ok(new ApiKeyRotation("api_key_rotation", ApiKeyView.From(replacement!.Key, now, replacement.Plaintext), ApiKeyView.From(previous!, now)));
    }

    private static async Task<IResult> Revoke(string id, HttpContext context, ApiKeyStore store, ApiKeyCache cache, TimeProvider clock)
    {
        var teamId = RequestContext.Of(context).TeamId;
        var now = clock.GetUtcNow();
        var outcome = await cache.ChangeAndAwaitNotificationAsync(teamId, () => store.RevokeAsync(teamId, id, now, context.RequestAborted),
            o => o == KeyChangeOutcome.Done, NotificationWait);
        if (outcome != KeyChangeOutcome.Done)
        {
            return Refused(context, id, outcome, "revoked", "It is already revoked.");
        }
        return TypedResults.Ok(ApiKeyView.From((await store.GetAsync(teamId, id, context.RequestAborted))!, now));
    }

    /// <summary>403 when <paramref name="scopes"/> holds one the calling key does not: a key cannot mint more power than it has.</summary>
    private static ApiError? Exceeds(ApiKeyRecord caller, IEnumerable<string> scopes) =>
        scopes.FirstOrDefault(s => !caller.HasScope(s)) is { } missing
            ? ApiError.PermissionDenied($"This API key lacks the '{missing}' scope, so it cannot issue a key that has it.")
            : null;

    private static IResult Refused(HttpContext context, string id, KeyChangeOutcome outcome, string verb, string hint) => outcome == KeyChangeOutcome.NotFound
        ? NotFound(context, id)
        : new ApiError(409, "invalid_request", "api_key_not_active", $"The API key {id} cannot be {verb} now. {hint}").ToResult(context);

    private static IResult NotFound(HttpContext context, string id) =>
        ApiError.NotFound("api_key_not_found", $"No API key '{id}' exists for this team.").ToResult(context);
}
