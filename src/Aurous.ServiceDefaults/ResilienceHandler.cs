using System.Net;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace Aurous.ServiceDefaults;

/// <summary>
/// Retries transient failures of safe (idempotent, bodiless) requests with exponential backoff and jitter, and bounds each
/// attempt. It stands in for Microsoft.Extensions.Http.Resilience, which cannot be restored here. Requests with a body
/// (e.g. streamed chat to the worker) are never retried: their side effects belong to the caller's idempotency.
/// </summary>
public sealed class ResilienceHandler : DelegatingHandler
{
    private static readonly ResiliencePipeline<HttpResponseMessage> Pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>()
        .AddRetry(new RetryStrategyOptions<HttpResponseMessage>
        {
            MaxRetryAttempts = 3,
            Delay = TimeSpan.FromMilliseconds(100),
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            ShouldHandle = args => ValueTask.FromResult(IsTransient(args.Outcome)),
        })
        .AddTimeout(TimeSpan.FromSeconds(10))
        .Build();

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (request.Content is not null || !(request.Method == HttpMethod.Get || request.Method == HttpMethod.Head))
        {
            return await base.SendAsync(request, cancellationToken);
        }
        return await Pipeline.ExecuteAsync(
            async ct => await base.SendAsync(request, ct),
            cancellationToken);
    }

    private static bool IsTransient(Outcome<HttpResponseMessage> outcome) => outcome switch
    {
        { Exception: HttpRequestException or TimeoutRejectedException } => true,
        { Result: { } r } => r.StatusCode is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests
            || (int)r.StatusCode >= 500,
        _ => false,
    };
}
