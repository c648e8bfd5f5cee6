using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aurous.Testing;

namespace Aurous.EndToEnd.Tests.Webhooks;

/// <summary>
/// The whole system with webhook settings for tests: retries within seconds, an endpoint disabled after three failed
/// attempts in a row, and loopback receivers allowed on "api" and the worker. "api-2" keeps the production rule
/// (public internet only), so the SSRF refusals are tested against it.
/// </summary>
public sealed class WebhookSystemFixture : IAsyncLifetime
{
    public const string PermissiveApi = "api";
    public const string StrictApi = "api-2";
    public const int DisableAfterFailures = 3;

    public AurousTestApp System { get; private set; } = null!;
    public WebhookReceiver Receiver { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Receiver = await WebhookReceiver.StartAsync();
        System = await AurousTestApp.StartAsync(apiReplicas: 2, configure: app =>
        {
            foreach (var project in app.Resources.OfType<ProjectResource>().Where(p => p.Name is PermissiveApi or StrictApi or "inference-worker"))
            {
                var resource = app.CreateResourceBuilder(project)
                    .WithEnvironment("Webhooks__RetryBaseDelay", "00:00:01")
                    .WithEnvironment("Webhooks__RetryMaxDelay", "00:00:02")
                    .WithEnvironment("Webhooks__DisableAfterConsecutiveFailures", DisableAfterFailures.ToString(global::System.Globalization.CultureInfo.InvariantCulture))
                    .WithEnvironment("Webhooks__DisableAfterFailingFor", "00:00:00");
                if (project.Name != StrictApi)
                {
                    resource.WithEnvironment("Webhooks__AllowPrivateNetworks", "true");
                }
            }
        });
    }

    public async Task DisposeAsync()
    {
        await System.DisposeAsync();
        await Receiver.DisposeAsync();
    }
}

[CollectionDefinition(Name)]
public sealed class WebhookSystemCollection : ICollectionFixture<WebhookSystemFixture>
{
    public const string Name = "webhook-system";
}
