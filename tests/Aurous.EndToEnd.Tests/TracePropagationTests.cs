using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Aurous.Api.Inference;
using Aurous.InferenceWorker.Models;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Trace;

namespace Aurous.EndToEnd.Tests;

/// <summary>
/// One trace follows a request from the API into the worker. The API and the worker run in this process on real
/// Kestrel sockets (over the system's Postgres, Redis and Azurite), so their spans can be read back through an
/// in-memory exporter; the trace context crosses the wire in the traceparent header, as between two machines.
/// </summary>
[Collection(SystemCollection.Name)]
public sealed class TracePropagationTests(SystemFixture fixture)
{
    [Fact]
    public async Task One_trace_spans_the_api_request_and_the_worker_call_it_makes()
    {
        var spans = new List<Activity>();
        var workerPort = FreePort();
        var apiPort = FreePort();
        const string InternalKey = "trace-test-internal-key";

        await using var worker = new WebApplicationFactory<ModelHost>().WithWebHostBuilder(web =>
        {
            web.UseSetting("Models:Path", fixture.System.Settings.ModelsDirectory);
            web.UseSetting("Inference:ExecutionProvider", "cpu");
            web.UseSetting("InternalApi:Key", InternalKey);
        });
        worker.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, workerPort));
        worker.StartServer();
        // The worker listens at once but loads its models in the background: until then it answers 503, which is not
        // what this test is about. Its /health turns 200 once every model is loaded.
        using (var probe = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{workerPort}") })
        {
            var loaded = Stopwatch.StartNew();
            while ((await probe.GetAsync("/health")).StatusCode != HttpStatusCode.OK)
            {
                loaded.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(60), "the worker loads its models");
                await Task.Delay(100);
            }
        }

        await using var api = new WebApplicationFactory<InferenceWorkerClient>().WithWebHostBuilder(web =>
        {
            web.UseSetting("ConnectionStrings:postgres", fixture.System.ConnectionString("postgres"));
            web.UseSetting("ConnectionStrings:redis", fixture.System.ConnectionString("redis"));
            web.UseSetting("ConnectionStrings:blobs", fixture.System.ConnectionString("blobs"));
            web.UseSetting("services:inference-worker:http:0", $"http://127.0.0.1:{workerPort}");
            web.UseSetting("Models:Path", fixture.System.Settings.ModelsDirectory);
            web.UseSetting("InternalApi:Key", InternalKey);
            web.ConfigureServices(services => services.AddOpenTelemetry().WithTracing(tracing => tracing.AddInMemoryExporter(spans)));
        });
        api.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, apiPort));
        api.StartServer();

        var (_, key) = await fixture.System.CreateTeamAsync();
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{apiPort}") };
        http.DefaultRequestHeaders.Add("X-Api-Key", key);
        using var response = await http.PostAsync("/v1/embeddings",
            new StringContent("""{"model":"aurous-embed-vision-1.0","input":"trace me"}""", Encoding.UTF8, "application/json"));
        response.StatusCode.ShouldBe(HttpStatusCode.OK);

        Activity[] snapshot = [];
        for (var i = 0; i < 50 && !snapshot.Any(IsWorkerServer); i++)
        {
            await Task.Delay(100);
            lock (spans)
            {
                snapshot = [.. spans];
            }
        }
        var apiServer = snapshot.Single(a => a.Kind == ActivityKind.Server && Path(a) == "/v1/embeddings");
        var call = snapshot.Single(a => a.Kind == ActivityKind.Client && (a.GetTagItem("url.full") as string ?? "").EndsWith("/internal/embeddings", StringComparison.Ordinal));
        var workerServer = snapshot.Single(IsWorkerServer);

        call.TraceId.ShouldBe(apiServer.TraceId);
        workerServer.TraceId.ShouldBe(apiServer.TraceId);
        workerServer.ParentSpanId.ShouldBe(call.SpanId);
        // The worker call happens inside the API request (directly or under the pipeline's own spans).
        var byId = snapshot.ToDictionary(a => a.SpanId);
        var ancestor = call;
        while (ancestor.SpanId != apiServer.SpanId && byId.TryGetValue(ancestor.ParentSpanId, out var parent))
        {
            ancestor = parent;
        }
        ancestor.SpanId.ShouldBe(apiServer.SpanId);
    }

    private static bool IsWorkerServer(Activity a) => a.Kind == ActivityKind.Server && Path(a) == "/internal/embeddings";

    private static string? Path(Activity a) => a.GetTagItem("url.path") as string;

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
