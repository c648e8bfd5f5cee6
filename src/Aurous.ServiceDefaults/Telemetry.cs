using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Aurous.ServiceDefaults;

/// <summary>
/// OpenTelemetry traces, metrics and logs over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set. Built directly on the SDK's
/// provider builders because OpenTelemetry.Extensions.Hosting and the instrumentation packages cannot be restored here;
/// ASP.NET Core and HttpClient publish their own ActivitySources and Meters, which is all the instrumentation needs.
/// </summary>
public static class Telemetry
{
    /// <summary>The ActivitySource and Meter name prefix every Aurous service uses for its own spans and metrics.</summary>
    public const string SourcePrefix = "Aurous.";

    private static readonly string[] FrameworkSources = ["Microsoft.AspNetCore", "System.Net.Http"];
    private static readonly string[] FrameworkMeters =
    [
        "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel", "Microsoft.AspNetCore.Http.Connections",
        "Microsoft.AspNetCore.Routing", "Microsoft.AspNetCore.Diagnostics", "Microsoft.AspNetCore.RateLimiting",
        "System.Net.Http", "System.Net.NameResolution", "System.Runtime", "Npgsql",
    ];

    public static TBuilder ConfigureOpenTelemetry<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        var endpoint = builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"];
        if (string.IsNullOrWhiteSpace(endpoint))
        {
            return builder;
        }

        var serviceName = builder.Configuration["OTEL_SERVICE_NAME"] ?? builder.Environment.ApplicationName;
        var resource = ResourceBuilder.CreateDefault().AddService(serviceName);

        builder.Logging.AddOpenTelemetry(logging =>
        {
            logging.SetResourceBuilder(resource);
            logging.IncludeFormattedMessage = true;
            logging.IncludeScopes = true;
            logging.AddOtlpExporter();
        });

        var tracer = Sdk.CreateTracerProviderBuilder()
            .SetResourceBuilder(resource)
            .AddSource(FrameworkSources)
            .AddSource(SourcePrefix + "*")
            .AddOtlpExporter()
            .Build();
        var meter = Sdk.CreateMeterProviderBuilder()
            .SetResourceBuilder(resource)
            .AddMeter(FrameworkMeters)
            .AddMeter(SourcePrefix + "*")
            .AddOtlpExporter()
            .Build();

        // The container owns the providers so they flush on shutdown.
        builder.Services.AddSingleton(tracer);
        builder.Services.AddSingleton(meter);
        return builder;
    }
}
