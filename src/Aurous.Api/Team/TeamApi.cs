using Aurous.Accounts;
using Aurous.Api.Metering;
using Microsoft.Extensions.Options;

namespace Aurous.Api.Team;

/// <summary>The calling key's team: its pinned API version and the rate limits that apply to it.</summary>
public sealed record TeamView(string Object, string Id, string Name, string ApiVersion, IReadOnlyList<string> ReleasedApiVersions, TeamRateLimitsView RateLimits);

/// <summary>The limits in force, and the team's own (null where the platform default applies).</summary>
public sealed record TeamRateLimitsView(int RequestsPerMinute, int TokensPerMinute, int? TeamRequestsPerMinute, int? TeamTokensPerMinute);

/// <summary>
/// /v1/team: read the team's settings (management:read) and pin its API version (management:write), through the same
/// <see cref="TeamStore"/> as the dashboard's Settings page. Requests without <c>Aurous-Version</c> get the pin, on every
/// API instance from its next request on.
/// </summary>
public static class TeamApi
{
    private static readonly HashSet<string> Known = ["api_version"];

    public static RouteGroupBuilder MapTeamApi(this RouteGroupBuilder v1)
    {
        var group = v1.MapGroup("/team").WithTags("Team");
        group.MapGet("/", Get).WithName("GetTeam").RequireScope(ApiKeyScopes.ManagementRead)
            .WithSummary("Returns the team: its pinned API version (what requests without Aurous-Version get) and its rate limits.")
            .Produces<TeamView>().ProducesErrors(401, 403);
        group.MapPatch("/", Update).WithName("UpdateTeam").RequireScope(ApiKeyScopes.ManagementWrite)
            .WithSummary("Pins the team to a released API version: {\"api_version\": \"YYYY-MM-DD\"}.")
            .Accepts<JsonElement>("application/json")
            .Produces<TeamView>().ProducesErrors(400, 401, 403);
        return group;
    }

    private static async Task<IResult> Get(HttpContext context, TeamStore teams, IOptions<RateLimitOptions> limits) =>
        await View(context, teams, limits.Value);

    private static async Task<IResult> Update(HttpContext context, TeamStore teams, ApiKeyCache cache, IOptions<RateLimitOptions> limits)
    {
        var (body, bodyError) = await JsonBody.ReadAsync(context);
        if (bodyError is not null)
        {
            return bodyError.ToResult(context);
        }
        if (JsonFields.KnownObject(body, Known) is { } invalid)
        {
            return invalid.ToResult(context);
        }
        if (JsonFields.RequiredString(body, "api_version", $"Give a released version such as {ApiVersions.Default}.", out var version) is { } error)
        {
            return error.ToResult(context);
        }
        var teamId = RequestContext.Of(context).TeamId;
        // Answer once the instances have dropped the team's cached keys: the next request anywhere gets the new pin.
        var outcome = await cache.ChangeAndAwaitNotificationAsync(teamId, () => teams.SetApiVersionAsync(teamId, version, context.RequestAborted),
            o => o == SetApiVersionOutcome.Done, TimeSpan.FromSeconds(2));
        if (outcome == SetApiVersionOutcome.NotReleased)
        {
            return ApiError.InvalidRequest("unsupported_api_version",
                $"'{version}' is not a released API version. Released: {string.Join(", ", ApiVersions.Released)}.").ToResult(context);
        }
        return await View(context, teams, limits.Value);
    }

    private static async Task<IResult> View(HttpContext context, TeamStore teams, RateLimitOptions limits)
    {
        var team = await teams.GetSettingsAsync(RequestContext.Of(context).TeamId, context.RequestAborted)
            ?? throw new InvalidOperationException("An authenticated key's team does not exist.");
        return TypedResults.Ok(new TeamView("team", team.Id, team.Name, team.ApiVersion, ApiVersions.Released, new TeamRateLimitsView(
            team.RpmLimit ?? limits.DefaultRequestsPerMinute, team.TpmLimit ?? limits.DefaultTokensPerMinute, team.RpmLimit, team.TpmLimit)));
    }
}
