using Microsoft.Extensions.Options;

namespace Aurous.Api.Inference;

/// <summary>
/// How long the API waits for the worker (section <c>InferenceWorker</c>, env <c>InferenceWorker__ConnectTimeout</c>...;
/// values are TimeSpans such as <c>00:00:02</c>). Every call is bounded, so a dead or hung worker costs a caller seconds,
/// never a hung request.
/// </summary>
public sealed class InferenceWorkerOptions
{
    public const string Section = "InferenceWorker";

    /// <summary>Opening a connection. Short: a worker that is down should turn into 503 <c>model_unavailable</c> at once.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(1.5);

    /// <summary>
    /// From sending the request to the response headers (for embeddings, the whole answer). The worker sends a chat's
    /// headers before queueing and prefill, but only after fetching and encoding its images; an embedding answers after
    /// fetching and decoding media (each media fetch is bounded at 10 s, a decode at 30 s).
    /// </summary>
    public TimeSpan ResponseTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Longest silence between two lines of a streamed chat. Generous: a request queued behind long generations for a
    /// decode slot receives nothing until it starts, and a long prompt's prefill sends nothing either.
    /// </summary>
    public TimeSpan StreamIdleTimeout { get; set; } = TimeSpan.FromSeconds(120);

    /// <summary>How often <see cref="WorkerLiveness"/> pings the worker's <c>/alive</c>.</summary>
    public TimeSpan LivenessInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long one ping may take before it counts as missed.</summary>
    public TimeSpan LivenessTimeout { get; set; } = TimeSpan.FromSeconds(1.5);

    /// <summary>Missed pings in a row after which the worker is down: calls in flight end and new ones answer 503 at once.</summary>
    public int LivenessMisses { get; set; } = 2;
}

internal sealed class InferenceWorkerOptionsValidator : IValidateOptions<InferenceWorkerOptions>
{
    public ValidateOptionsResult Validate(string? name, InferenceWorkerOptions options)
    {
        var failures = new List<string>();
        Positive(options.ConnectTimeout, nameof(options.ConnectTimeout));
        Positive(options.ResponseTimeout, nameof(options.ResponseTimeout));
        Positive(options.StreamIdleTimeout, nameof(options.StreamIdleTimeout));
        Positive(options.LivenessInterval, nameof(options.LivenessInterval));
        Positive(options.LivenessTimeout, nameof(options.LivenessTimeout));
        if (options.LivenessMisses < 1)
        {
            failures.Add($"{InferenceWorkerOptions.Section}:{nameof(options.LivenessMisses)} must be at least 1, not {options.LivenessMisses}.");
        }
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);

        void Positive(TimeSpan value, string key)
        {
            // CancelAfter takes at most int.MaxValue milliseconds (about 24 days).
            if (value <= TimeSpan.Zero || value.TotalMilliseconds > int.MaxValue)
            {
                failures.Add($"{InferenceWorkerOptions.Section}:{key} must be a positive duration of at most 24 days (e.g. 00:00:02), not {value}.");
            }
        }
    }
}

public static class InferenceWorkerHttpClientExtensions
{
    /// <summary>Validated <see cref="InferenceWorkerOptions"/>, a warm connection pool with their connect timeout, and
    /// the worker's liveness monitor.</summary>
    public static IHttpClientBuilder AddInferenceWorkerTimeouts(this IHttpClientBuilder builder)
    {
        builder.Services.AddSingleton<WorkerLiveness>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<WorkerLiveness>());
        builder.Services.AddOptions<InferenceWorkerOptions>().BindConfiguration(InferenceWorkerOptions.Section).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<InferenceWorkerOptions>, InferenceWorkerOptionsValidator>();
        // One long-lived connection pool: the handler is never rotated, so the connections stay warm (each is
        // replaced after PooledConnectionLifetime, and an idle one is closed after PooledConnectionIdleTimeout).
        return builder.SetHandlerLifetime(Timeout.InfiniteTimeSpan).ConfigurePrimaryHttpMessageHandler(services => new SocketsHttpHandler
        {
            ConnectTimeout = services.GetRequiredService<IOptions<InferenceWorkerOptions>>().Value.ConnectTimeout,
            PooledConnectionLifetime = TimeSpan.FromMinutes(10),
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(2),
        });
    }
}
