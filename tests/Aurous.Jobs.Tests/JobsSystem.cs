using System.Net.Http.Json;
using System.Text.Json;
using Aspire.Hosting.ApplicationModel;
using Aurous.Testing;

namespace Aurous.Jobs.Tests;

/// <summary>
/// The whole system for the job tests, with the job runner's timings shortened so that a killed worker's job is handed
/// back within seconds, retries come after a second, and upkeep runs every two seconds.
/// </summary>
public sealed class JobsSystem : IAsyncLifetime
{
    public const string Worker = "inference-worker";

    /// <summary>How long a killed worker's job stays claimed before it goes back to its queue.</summary>
    public static readonly TimeSpan InvisibilityTimeout = TimeSpan.FromSeconds(10);

    public AurousTestApp System { get; private set; } = null!;

    public static readonly IReadOnlyDictionary<string, string> WorkerSettings = new Dictionary<string, string>
    {
        ["JobRunner__GenerationWorkers"] = "2",
        ["JobRunner__InvisibilityTimeout"] = InvisibilityTimeout.ToString(),
        ["JobRunner__SchedulePollInterval"] = "00:00:01",
        ["JobRunner__GenerationAttempts"] = "3",
        ["JobRunner__RetryDelaysSeconds__0"] = "1",
        ["JobRunner__UpkeepCron"] = "*/2 * * * * *",
    };

    public async Task InitializeAsync() => System = await AurousTestApp.StartAsync(configure: builder =>
    {
        var worker = builder.Resources.OfType<ProjectResource>().Single(r => r.Name == Worker);
        worker.Annotations.Add(new EnvironmentCallbackAnnotation(env =>
        {
            foreach (var (key, value) in WorkerSettings)
            {
                env[key] = value;
            }
        }));
    });

    public async Task DisposeAsync() => await System.DisposeAsync();

    /// <summary>
    /// Starts a stopped service again and, since a new process starts with its clock unmoved, moves its clock to where
    /// the API's is (a test may have moved every clock forward before).
    /// </summary>
    public async Task RestartedAsync(string resource)
    {
        await System.EnsureHealthyAsync(resource);
        var behind = await ClockOffsetAsync("api") - await ClockOffsetAsync(resource);
        if (behind > TimeSpan.Zero)
        {
            await System.AdvanceClockAsync(behind, resource);
        }
    }

    private async Task<TimeSpan> ClockOffsetAsync(string resource)
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(System.Endpoint(resource), "/internal/clock"))
        {
            Content = JsonContent.Create(new { advance_seconds = 0 }),
        };
        request.Headers.Authorization = new("Bearer", System.InternalApiKey);
        using var response = await http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        return TimeSpan.FromSeconds(body.GetProperty("offset_seconds").GetDouble());
    }
}

[CollectionDefinition(Name)]
public sealed class JobsCollection : ICollectionFixture<JobsSystem>
{
    public const string Name = "jobs";
}
