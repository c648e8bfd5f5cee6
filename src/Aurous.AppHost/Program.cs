using System.Runtime.InteropServices;
using Aurous.AppHost;
using Aurous.Hosting;

// Aurous AppHost: starts postgres, redis, blobs, the schema, then the inference worker, the API and the dashboard,
// each once what it needs is healthy; Ctrl+C or SIGTERM stops every child. `--fresh` wipes local state first.
// `--home DIR` keeps state elsewhere than .aurous/ and `--dynamic-ports` picks free ports (several copies side by side).
var repoRoot = AurousAppSettings.FindRepoRoot(AppContext.BaseDirectory);
var home = args.SkipWhile(a => a != "--home").Skip(1).FirstOrDefault() ?? Path.Combine(repoRoot, ".aurous");
var settings = new AurousAppSettings(repoRoot, Path.GetFullPath(home));
var fresh = args.Contains("--fresh");
if (fresh)
{
    Console.WriteLine($"[apphost] --fresh: deleting the local state in {settings.HomeDirectory}");
    File.Delete(settings.DevEnvPath);
}

var shared = new Dictionary<string, string>();
foreach (var name in new[] { "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_HEADERS" })
{
    if (Environment.GetEnvironmentVariable(name) is { Length: > 0 } value)
    {
        shared[name] = value;
    }
}

var builder = new DistributedApplicationBuilder(new DistributedApplicationOptions
{
    RepoRoot = repoRoot,
    StateDirectory = settings.StateDirectory,
    SharedEnvironment = shared,
    DynamicPorts = args.Contains("--dynamic-ports"),
});
AurousApp.Define(builder, settings);
await using var app = builder.Build(resetState: fresh);

using var shutdown = new CancellationTokenSource();
void OnSignal(PosixSignalContext context)
{
    context.Cancel = true;
    Console.WriteLine($"[apphost] {context.Signal}: stopping every resource");
    shutdown.Cancel();
}
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);

try
{
    await app.StartAsync(cancellationToken: shutdown.Token);
}
catch (MissingDependencyException ex)
{
    Console.Error.WriteLine($"[apphost] {ex.Message}");
    return 2;
}
catch (ResourceFailedException ex)
{
    Console.Error.WriteLine($"[apphost] {ex.Message}");
    return 1;
}
catch (OperationCanceledException) when (shutdown.IsCancellationRequested)
{
    return 0;
}

Console.WriteLine($"""

    Aurous is running.
      API:        {app.GetEndpoint("api")}v1   (OpenAPI: {app.GetEndpoint("api")}openapi/v1.json)
      Dashboard:  {app.GetEndpoint("dashboard")}
      Worker:     {app.GetEndpoint("inference-worker")}v1/info
      Dev key:    {settings.DevEnvPath}   (source it, then: curl -H "X-Api-Key: $AUROUS_API_KEY" $AUROUS_BASE_URL/balance)
    Press Ctrl+C to stop.

    """);

await app.WaitForShutdownAsync(shutdown.Token);
var failures = app.Context.Failures.ToArray();
foreach (var failure in failures)
{
    Console.Error.WriteLine($"[apphost] {failure}");
}
return failures.Length == 0 ? 0 : 1;
