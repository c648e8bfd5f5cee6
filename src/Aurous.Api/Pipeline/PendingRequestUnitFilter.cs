using Aurous.Api.Metering;
using Microsoft.Extensions.Options;

namespace Aurous.Api.Pipeline;

/// <summary>
/// On a token-metered route, a request that ended before admission still owes its RPM unit: it takes it as it ends,
/// and is answered 429 instead when the RPM bucket is empty (unless its response has already started).
/// </summary>
public sealed class PendingRequestUnitFilter : IEndpointFilter
{
    public static readonly PendingRequestUnitFilter Instance = new();

    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext invocation, EndpointFilterDelegate next)
    {
        var result = await next(invocation);
        var context = invocation.HttpContext;
        if (context.Features.Get<RequestContext>() is not { RequestUnitPending: true } request)
        {
            return result;
        }
        var services = context.RequestServices;
        var refusal = await RequestRateLimiting.CountPendingAsync(context, request, services.GetRequiredService<RateLimiter>(),
            services.GetRequiredService<IOptions<RateLimitOptions>>().Value);
        return refusal is null || context.Response.HasStarted ? result : refusal.ToResult(context);
    }
}
