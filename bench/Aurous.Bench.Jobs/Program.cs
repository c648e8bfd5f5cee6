using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Aspire.Hosting.ApplicationModel;
using Aurous.Testing;

// Image jobs through the whole system (API -> Hangfire on Postgres -> the worker's runner -> blob storage), in one run:
// batches of 1, 8 and 32 jobs submitted at once, each batch measured until its last job ends. Images per minute is the
// batch's images over its wall time (submission to the last success); queue wait is each job's started_at - created_at.
// Usage: dotnet run -c Release --project bench/Aurous.Bench.Jobs -- [workers=1] [size=1k_1_1] [batches=1,8,32]
var workers = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 1;
var size = args.Length > 1 ? args[1] : "1k_1_1";
var batches = (args.Length > 2 ? args[2] : "1,8,32").Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();

Console.WriteLine($"Booting the system ... {workers} generation worker(s), size {size}, batches {string.Join(", ", batches)}");
await using var system = await AurousTestApp.StartAsync(only: ["api"], configure: builder =>
{
    var worker = builder.Resources.OfType<ProjectResource>().Single(r => r.Name == "inference-worker");
    worker.Annotations.Add(new EnvironmentCallbackAnnotation(env => env["JobRunner__GenerationWorkers"] = workers.ToString(CultureInfo.InvariantCulture)));
});
var (teamId, key) = await system.CreateTeamAsync(credits: 1_000_000m);
await system.SetLimitsAsync(teamId, rpm: 100_000_000, tpm: 1_000_000_000);
using var api = system.CreateApiClient(key);

await RunBatchAsync(1, "warm-up"); // loads the diffusion sessions
var rows = new List<string>();
var results = new List<(int Jobs, double PerMinute)>();
foreach (var jobs in batches)
{
    var (perMinute, p50, p99, wall) = await RunBatchAsync(jobs, $"{jobs} at once");
    rows.Add($"| {jobs} | {wall:0.0} | {perMinute:0.0} | {p50:0.00} | {p99:0.00} |");
    results.Add((jobs, perMinute));
}

Console.WriteLine();
Console.WriteLine($"| jobs at once | wall s | images/min | queue wait p50 s | queue wait p99 s |   ({workers} generation worker(s), {size}, {Environment.ProcessorCount} cores)");
Console.WriteLine("|---|---|---|---|---|");
rows.ForEach(Console.WriteLine);
var baseline = results[0].PerMinute;
Console.WriteLine();
Console.WriteLine("Throughput relative to one job at a time: " + string.Join(", ", results.Select(r => $"x{r.Jobs}: {r.PerMinute / baseline:0.00}")));

async Task<(double PerMinute, double P50, double P99, double Wall)> RunBatchAsync(int jobs, string label)
{
    var clock = Stopwatch.StartNew();
    var ids = await Task.WhenAll(Enumerable.Range(0, jobs).Select(async i =>
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/images")
        {
            Content = JsonContent.Create(new { model = "aurous-canvas-1.0", prompt = $"A harbour at dawn, study {i}", size, n = 1, seed = i + 1 }),
        };
        request.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString());
        using var response = await api.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
    }));
    var pending = ids.ToHashSet();
    while (pending.Count > 0)
    {
        await Task.Delay(100);
        foreach (var id in pending.ToArray())
        {
            var status = (await api.GetFromJsonAsync<JsonElement>($"/v1/images/{id}")).GetProperty("status").GetString();
            if (status is "succeeded")
            {
                pending.Remove(id);
            }
            else if (status is not ("pending" or "processing"))
            {
                throw new InvalidOperationException($"job {id} ended {status}");
            }
        }
    }
    var wall = clock.Elapsed.TotalSeconds;
    var waits = new List<double>();
    await using (var cmd = system.Database.CreateCommand("SELECT EXTRACT(EPOCH FROM started_at - created_at)::float8 FROM generation_jobs WHERE id = ANY(@ids)"))
    {
        cmd.Parameters.AddWithValue("ids", ids);
        await using var reader = await cmd.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            waits.Add(reader.GetDouble(0));
        }
    }
    waits.Sort();
    var perMinute = jobs / wall * 60;
    Console.WriteLine($"{label}: {jobs} images in {wall:0.0} s = {perMinute:0.0}/min, queue wait p50 {Percentile(waits, 0.5):0.00} s p99 {Percentile(waits, 0.99):0.00} s");
    return (perMinute, Percentile(waits, 0.5), Percentile(waits, 0.99), wall);
}

static double Percentile(List<double> sorted, double p) => sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Count) - 1, 0, sorted.Count - 1)];
