using Microsoft.AspNetCore.Http;

namespace Aurous.Dashboard.Components.Pages.Webhooks;

/// <summary>What the webhook pages share: the refusal of a change by a team member who may only read.</summary>
internal static class WebhookPages
{
    public const string OnlyManagers = "Only owners and admins of this team can manage its webhooks.";

    /// <summary>A forged post from a member: answered 403 with the alert in the page.</summary>
    public static void Refuse(HttpContext? context)
    {
        if (context is not null && !context.Response.HasStarted)
        {
            context.Response.StatusCode = StatusCodes.Status403Forbidden;
        }
    }
}
