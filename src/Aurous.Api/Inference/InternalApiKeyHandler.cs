using System.Net.Http.Headers;
using Aurous.Inference.Contracts;
using Microsoft.Extensions.Options;

namespace Aurous.Api.Inference;

/// <summary>Presents the internal API key (<c>InternalApi:Key</c>) to the worker on every call, as <c>Authorization: Bearer</c>.</summary>
public sealed class InternalApiKeyHandler(IOptions<InternalApiKeyOptions> options) : DelegatingHandler
{
    private readonly AuthenticationHeaderValue _credential = new(InternalApiKeyOptions.Scheme, options.Value.Key);

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        request.Headers.Authorization = _credential;
        return base.SendAsync(request, cancellationToken);
    }
}

public static class InternalApiKeyHttpClientExtensions
{
    /// <summary>Sends the internal API key with every request of this client; the API does not start without a usable key.</summary>
    public static IHttpClientBuilder AddInternalApiKey(this IHttpClientBuilder builder)
    {
        builder.Services.AddOptions<InternalApiKeyOptions>()
            .BindConfiguration(InternalApiKeyOptions.Section)
            .Validate(o => InternalApiKeyOptions.IsUsable(o.Key), $"{InternalApiKeyOptions.Requirement}; without it the worker refuses every inference call.")
            .ValidateOnStart();
        builder.Services.AddTransient<InternalApiKeyHandler>();
        return builder.AddHttpMessageHandler<InternalApiKeyHandler>();
    }
}
