using System.Diagnostics;
using Aspire.Hosting.ApplicationModel;
using Aurous.InferenceWorker.Jobs;
using Aurous.Testing;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Trace;

namespace Aurous.Jobs.Tests;

/// <summary>
/// One trace per job: the runner's span continues the trace of the request that created the job (its stored
/// traceparent), and the generator, the blob upload and the event publish are inside it. The system's worker is
/// stopped for the test and a worker hosted in this process (on the system's Postgres and blob storage) runs the job,
/// so that its spans can be read back.
/// </summary>
[Collection(JobsCollection.Name)]
public sealed class JobTraceTests(JobsSystem fixture)
{
    private AurousTestApp System => fixture.System;

    [Fact]
    public async Task The_runner_span_is_a_child_of_the_creating_request_and_parents_generation_upload_and_publish()
    {
        var (_, key) = await System.CreateTeamAsync();
        using var api = System.CreateApiClient(key);
        var commands = System.App.Services.GetRequiredService<ResourceCommandService>();
        (await commands.ExecuteCommandAsync(JobsSystem.Worker, KnownResourceCommands.StopCommand)).Success.ShouldBeTrue();
        try
        {
            var spans = new List<Activity>();
            await using var worker = new WebApplicationFactory<GenerationJobRunner>().WithWebHostBuilder(web =>
            {
                web.UseSetting("ConnectionStrings:postgres", System.ConnectionString("postgres"));
                web.UseSetting("ConnectionStrings:blobs", System.ConnectionString("blobs"));
                web.UseSetting("Models:Path", System.Settings.ModelsDirectory);
                web.UseSetting("Inference:ExecutionProvider", "cpu");
                web.UseSetting("InternalApi:Key", "trace-test-internal-key");
                web.UseSetting("Outputs:PublicBaseUrl", System.Endpoint("api").ToString());
                foreach (var (name, value) in JobsSystem.WorkerSettings)
                {
                    web.UseSetting(name.Replace("__", ":", StringComparison.Ordinal), value);
                }
                web.ConfigureServices(services => services.AddOpenTelemetry().WithTracing(tracing => tracing.AddInMemoryExporter(spans)));
            });
            _ = worker.Services; // starts the host: its Hangfire servers take the job

            var id = (await JobClient.CreateImageAsync(api, "A paper boat on a pond")).GetProperty("id").GetString()!;
            var job = await JobClient.WaitAsync(api, id, TimeSpan.FromMinutes(3));
            job.Status().ShouldBe("succeeded", job.ToString());

            await using var stored = System.Database.CreateCommand("SELECT trace_parent FROM generation_jobs WHERE id = @id");
            stored.Parameters.AddWithValue("id", id);
            var traceParent = (string)(await stored.ExecuteScalarAsync())!;
            ActivityContext.TryParse(traceParent, null, out var creating).ShouldBeTrue(traceParent);
            var traceId = creating.TraceId;

            Activity[] snapshot = [];
            for (var i = 0; i < 100 && !snapshot.Any(a => a.DisplayName == "publish job event"); i++)
            {
                await Task.Delay(100);
                lock (spans)
                {
                    snapshot = [.. spans.Where(s => s.TraceId == traceId)];
                }
            }
            var run = snapshot.Single(a => a.DisplayName == "generation job");
            run.Kind.ShouldBe(ActivityKind.Consumer);
            run.ParentSpanId.ShouldBe(creating.SpanId);
            run.GetTagItem("aurous.job.id").ShouldBe(id);

            var byId = snapshot.ToDictionary(a => a.SpanId);
            bool Under(Activity span, Activity ancestor)
            {
                for (var s = span; byId.TryGetValue(s.ParentSpanId, out var parent); s = parent)
                {
                    if (parent.SpanId == ancestor.SpanId)
                    {
                        return true;
                    }
                }
                return false;
            }
            Under(snapshot.Single(a => a.DisplayName == "moderation"), run).ShouldBeTrue();
            var generate = snapshot.Single(a => a.DisplayName == "generate");
            Under(generate, run).ShouldBeTrue();
            snapshot.Any(a => a.DisplayName.StartsWith("generation.", StringComparison.Ordinal) && Under(a, generate)).ShouldBeTrue("the generator's span is inside 'generate'");
            var store = snapshot.Single(a => a.DisplayName == "store output");
            Under(store, run).ShouldBeTrue();
            snapshot.Any(a => a.Source.Name.StartsWith("Azure.Storage.Blobs", StringComparison.Ordinal) && Under(a, store)).ShouldBeTrue("the blob upload is inside 'store output'");
            Under(snapshot.Single(a => a.DisplayName == "publish job event"), run).ShouldBeTrue();
        }
        finally
        {
            await fixture.RestartedAsync(JobsSystem.Worker);
        }
    }
}
