using Microsoft.Extensions.DependencyInjection.Extensions;
using Aurous.Accounts;

namespace Aurous.Api.Pipeline;

/// <summary>
/// The one request pipeline every route shares: request id and API version on every response, errors in the
/// envelope (unknown routes, wrong methods, bad bodies and crashes included), then API-key authentication for the
/// endpoints that ask for it. Later stages (rate limits, idempotency, credit holds) attach here too.
/// </summary>
public static class PipelineExtensions
{
    public const long MaxRequestBodyBytes = 32 * 1024 * 1024;

    /// <summary>The services the pipeline needs: OpenAI-style snake_case JSON, body limits, cached key lookup, Redis rate limits.</summary>
    public static WebApplicationBuilder AddAurousPipeline(this WebApplicationBuilder builder)
    {
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = MaxRequestBodyBytes;
            RequestLimits.ApplyTo(k.Limits);
        });
        // Binding failures throw, so the envelope middleware can answer them instead of an empty 400.
        builder.Services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower);
        // The service defaults register the (adjustable) clock first; a host without them gets the system clock.
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<ApiKeyStore>();
        builder.Services.AddOptions<ApiKeyCacheOptions>().Bind(builder.Configuration.GetSection("ApiKeyCache"))
            .Validate(o => o.MaxEntries > 0 && o.TimeToLive > TimeSpan.Zero && o.ListenerPingInterval > TimeSpan.Zero
                && o.MaxUnknownEntries >= 0 && o.UnknownTimeToLive > TimeSpan.Zero,
                "ApiKeyCache: MaxEntries, TimeToLive, UnknownTimeToLive and ListenerPingInterval must be positive.")
            .ValidateOnStart();
        builder.Services.AddSingleton(sp => new ApiKeyCache(sp.GetRequiredService<ApiKeyStore>().FindByHashAsync,
            sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<ApiKeyCacheOptions>>().Value, sp.GetRequiredService<TimeProvider>()));
        builder.Services.AddHostedService<ApiKeyCacheListener>();
        builder.Services.AddAuthFailureLimits(builder.Configuration);
        builder.Services.AddSingleton<KeyUsageRecorder>();
        builder.Services.AddOptions<KeyUsageOptions>().Bind(builder.Configuration.GetSection("KeyUsage"))
            .Validate(o => o.FlushInterval > TimeSpan.Zero, "KeyUsage:FlushInterval must be positive.").ValidateOnStart();
        builder.Services.AddHostedService<KeyUsageFlusher>();
        builder.Services.TryAddSingleton<Accounts.CreditHolds>();
        builder.Services.AddSingleton<OrphanedHolds>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<OrphanedHolds>());
        builder.AddRedisClient("redis", settings => settings.DisableHealthChecks = true, redis =>
        {
            redis.AbortOnConnectFail = false; // keep retrying in the background rather than caching a failed start
            // Every Redis call is bounded: a stalled Redis must turn into a clear error, not a hung request.
            redis.ConnectTimeout = 2000;
            redis.SyncTimeout = 2000;
            redis.AsyncTimeout = 2000;
            // While disconnected, fail at once rather than queue: rate limits then judge locally (Metering.RateLimiter).
            redis.BacklogPolicy = StackExchange.Redis.BacklogPolicy.FailFast;
        });
        builder.Services.AddSingleton<Metering.RateLimiter>();
        builder.Services.AddHostedService<RateLimiterWarmup>();
        builder.Services.AddOptions<Metering.RateLimitOptions>().Bind(builder.Configuration.GetSection("RateLimits"))
            .Validate(o => o.DefaultRequestsPerMinute > 0 && o.DefaultTokensPerMinute > 0 && o.RedisBudget > TimeSpan.Zero
                && o.RedisRetryInterval >= TimeSpan.FromMilliseconds(500) && o.ApiInstances > 0,
                "RateLimits: defaults, RedisBudget and ApiInstances must be positive; RedisRetryInterval at least 0.5 s.")
            .ValidateOnStart();
        return builder;
    }

    public static WebApplication UseAurousPipeline(this WebApplication app)
    {
        app.UseMiddleware<RequestContextMiddleware>();
        app.UseMiddleware<ErrorEnvelopeMiddleware>();
        app.UseMiddleware<DependencyOutage>();
        app.UseRouting();
        app.UseMiddleware<ApiKeyAuthentication>();
        app.UseMiddleware<RequestRateLimiting>();
        return app;
    }

    /// <summary>Marks a route group as requiring an API key (X-Api-Key or Authorization: Bearer); its requests count against the team's RPM.</summary>
    public static RouteGroupBuilder RequireApiKey(this RouteGroupBuilder group) => group.WithMetadata(ApiKeyRequirement.Instance);

    /// <summary>The key must carry <paramref name="scope"/> (chat, embeddings, images); otherwise 403.</summary>
    public static TBuilder RequireScope<TBuilder>(this TBuilder builder, string scope) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new ScopeRequirement(scope));

    /// <summary>Documents the error statuses a route answers (each with the error envelope) in the OpenAPI document.</summary>
    public static RouteHandlerBuilder ProducesErrors(this RouteHandlerBuilder builder, params int[] statuses)
    {
        foreach (var status in statuses)
        {
            builder.Produces<ApiError.ErrorEnvelope>(status, "application/json");
        }
        return builder;
    }

    /// <summary>
    /// The route also meters tokens per minute, so its responses carry the X-RateLimit-TPM-* headers. Its requests take
    /// their RPM unit at admission with the token estimate; one that ends before admission takes it as it ends, and
    /// is answered 429 instead when the RPM bucket is empty.
    /// </summary>
    public static TBuilder MetersTokens<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(TokenMeteredRoute.Instance).AddEndpointFilter(PendingRequestUnitFilter.Instance);
}
