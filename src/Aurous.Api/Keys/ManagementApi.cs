using Aurous.Api.Team;

namespace Aurous.Api.Keys;

public static class ManagementApi
{
    /// <summary>The team's administration over REST, under the management scopes: /v1/keys and /v1/team.</summary>
    public static RouteGroupBuilder MapManagementApi(this RouteGroupBuilder v1)
    {
        v1.MapKeysApi();
        v1.MapTeamApi();
        return v1;
    }
}
