using Aurous.Dashboard.Identity;
using Hangfire.Dashboard;

namespace Aurous.Dashboard.Operators;

/// <summary>The Hangfire dashboard's own check: only a signed-in operator (Hangfire's default admits local requests).</summary>
public sealed class OperatorDashboardAuthorization : IDashboardAuthorizationFilter
{
    public bool Authorize(DashboardContext context)
    {
        var user = context.GetHttpContext().User;
        return user.Identity?.IsAuthenticated == true && user.IsInRole(PlatformRoles.Operator);
    }
}
