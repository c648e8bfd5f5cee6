using Microsoft.Extensions.DependencyInjection.Extensions;
using System.Text.Json;
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
        app.Use(RequestContextMiddleware);
        app.Use(ErrorEnvelopeMiddleware);
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

    /// <summary>The route also meters tokens per minute, so its responses carry the X-RateLimit-TPM-* headers.</summary>
    public static TBuilder MetersTokens<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(TokenMeteredRoute.Instance);

    private static async Task RequestContextMiddleware(HttpContext context, RequestDelegate next)
    {
        string? requested = null;
        ApiError? versionError = null;
        if (context.Request.Headers.TryGetValue(AurousHeaders.Version, out var header))
        {
            switch (ApiVersions.TryResolve(header.ToString().Trim(), out var resolved))
            {
                case ApiVersions.Outcome.Resolved:
                    requested = resolved;
                    break;
                case ApiVersions.Outcome.Malformed:
                    versionError = ApiError.InvalidRequest("invalid_api_version", $"Aurous-Version must be a date in the form YYYY-MM-DD; received '{header}'.");
                    break;
                default:
                    versionError = ApiError.InvalidRequest("unsupported_api_version",
                        $"No API version was released on or before {header}; the first is {ApiVersions.Released[0]}.");
                    break;
            }
        }

        var requestContext = new RequestContext { RequestId = Persistence.Ulid.NewId("req"), RequestedVersion = requested };
        context.Features.Set(requestContext);
        context.Response.OnStarting(() =>
        {
            var headers = context.Response.Headers;
            headers[AurousHeaders.RequestId] = requestContext.RequestId;
            headers[AurousHeaders.Version] = requestContext.ApiVersion;
            if (requestContext.Timings.Count > 0)
            {
                headers["Server-Timing"] = string.Join(", ", requestContext.Timings.Select(t => $"{t.Stage};dur={t.Milliseconds.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture)}"));
            }
            if (requestContext.RequestBucket is { } rpm)
            {
                headers["X-RateLimit-Limit"] = rpm.Limit.ToString();
                headers["X-RateLimit-Remaining"] = rpm.Remaining.ToString();
                headers["X-RateLimit-Reset"] = rpm.ResetSeconds.ToString();
            }
            if (requestContext.TokenBucket is { } tpm)
            {
                headers["X-RateLimit-TPM-Limit"] = tpm.Limit.ToString();
                headers["X-RateLimit-TPM-Remaining"] = tpm.Remaining.ToString();
                headers["X-RateLimit-TPM-Reset"] = tpm.ResetSeconds.ToString();
            }
            return Task.CompletedTask;
        });

        // Line and header rules come first: a repeated Aurous-Version is refused as such, not parsed as "a,b".
        if ((RequestLimits.Check(context.Request) ?? versionError) is { } error)
        {
            await error.WriteAsync(context);
            return;
        }
        await next(context);
    }

    private static async Task ErrorEnvelopeMiddleware(HttpContext context, RequestDelegate next)
    {
        // Judge a declared length before reading anything, so a client that waits for 100-continue never uploads it.
        if (context.Request.ContentLength > MaxRequestBodyBytes)
        {
            await ApiError.PayloadTooLarge(MaxRequestBodyBytes).WriteAsync(context);
            return;
        }
        try
        {
            await next(context);
        }
        catch (BadHttpRequestException ex) when (!context.Response.HasStarted)
        {
            var error = ex.StatusCode switch
            {
                StatusCodes.Status413PayloadTooLarge => ApiError.PayloadTooLarge(MaxRequestBodyBytes),
                StatusCodes.Status415UnsupportedMediaType => ApiError.UnsupportedMediaType(),
                _ => ApiError.InvalidRequest("invalid_json", ex.InnerException is System.Text.Json.JsonException json
                    ? $"The request body is not valid JSON: {json.Message}"
                    : ex.Message),
            };
            context.Response.Clear();
            await error.WriteAsync(context);
            return;
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; nobody is left to answer.
            return;
        }
        catch (Exception ex) when (!context.Response.HasStarted)
        {
            context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Aurous.Api.Errors")
                .LogError(ex, "Unhandled error on {Method} {Path} ({RequestId})", context.Request.Method, context.Request.Path, RequestContext.Of(context).RequestId);
            context.Response.Clear();
            await ApiError.Internal().WriteAsync(context);
            return;
        }

        // Responses the framework produced without a body (no route, wrong method, ...) get the envelope too.
        if (context.Response.HasStarted || context.Response.StatusCode < 400 || context.Response.ContentLength > 0)
        {
            return;
        }
        var fallback = context.Response.StatusCode switch
        {
            StatusCodes.Status404NotFound => ApiError.RouteNotFound(context),
            StatusCodes.Status405MethodNotAllowed => ApiError.MethodNotAllowed(context),
            StatusCodes.Status413PayloadTooLarge => ApiError.PayloadTooLarge(MaxRequestBodyBytes),
            StatusCodes.Status415UnsupportedMediaType => ApiError.UnsupportedMediaType(),
            StatusCodes.Status416RangeNotSatisfiable => ApiError.RangeNotSatisfiable(),
            var s when s < 500 => new ApiError(s, "invalid_request", "bad_request", "The request could not be processed."),
            var s => new ApiError(s, "api_error", "internal_error", "The server could not process the request."),
        };
        // A framework result may have declared an empty body (a 416 from range processing): the envelope replaces it.
        context.Response.ContentLength = null;
        await fallback.WriteAsync(context);
    }
}

public static class AurousHeaders
{
    public const string RequestId = "Aurous-Request-Id";
    public const string Version = "Aurous-Version";
    public const string ApiKey = "X-Api-Key";
}
