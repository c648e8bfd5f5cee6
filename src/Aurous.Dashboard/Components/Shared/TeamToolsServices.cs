using Aurous.Accounts;
using Aurous.Dashboard.Components.Pages.Jobs;
using Aurous.Jobs;
using Aurous.Jobs.Webhooks;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Aurous.Dashboard.Components.Shared;

/// <summary>The services behind the API keys, webhooks and jobs pages: the same stores the API uses.</summary>
public static class TeamToolsServices
{
    /// <summary>
    /// Key management (<see cref="ApiKeyStore"/>), webhook endpoints, test events and redelivery (section
    /// <c>Webhooks</c>, as on the API), the job rows, and output links (<c>Outputs:PublicBaseUrl</c>).
    /// </summary>
    public static WebApplicationBuilder AddTeamTools(this WebApplicationBuilder builder)
    {
        builder.AddWebhooks();
        var services = builder.Services;
        services.TryAddSingleton<ApiKeyStore>();
        services.TryAddSingleton<CreditHolds>();
        services.TryAddSingleton<JobStore>();
        services.AddOutputLinkOptions();
        services.TryAddSingleton<OutputLinks>();
        return builder;
    }
}
