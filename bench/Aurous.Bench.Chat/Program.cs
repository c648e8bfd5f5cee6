using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Aurous.Testing;
using Aurous.Tokenizers;

// Streamed chat (aurous-grow-2.0-pro) through the API (SSE, authenticated and metered) versus the worker's internal
// NDJSON endpoint, in one run:
// 1) time to first delta, sequential requests, max_tokens 16;
// 2) aggregate completion tokens/s at 1, 8 and 32 concurrent streams, max_tokens 64;
// 3) head-of-line blocking: short requests (max_tokens 8) while K long generations (ignore_eos, max_tokens 4000) run.
// Usage: dotnet run -c Release --project bench/Aurous.Bench.Chat -- [ttfbRequests=200] [throughputSeconds=6] [throughputRounds=1] [hol|no-hol]
// More than one throughput round alternates the three targets round by round, so that drifts of a shared machine
// touch them alike; each cell then reports the median round.
// Or: ... -- decode-ab [seconds=5] [rounds=3]: only the worker's batched decode against one decode loop per request
// (DecodeAb.cs), alternating round by round.
// Or: ... -- constrained [rounds=5]: only the per-token cost of response_format json_object and json_schema against
// unconstrained decoding (ConstrainedCost.cs).
// Or: ... -- decode-cost [streams=32] [steps=200] [threads=1] [batched-run threads]: in process, no system booted: the CPU time per token of a
// batched decoder run, sampling, detokenizing and the NDJSON line (DecodeCost.cs).
// Any of them may add --worker-env NAME=VALUE (repeatable): an environment variable for the worker process, e.g.
// Inference__DecodeBatchWaitMs=5, to compare a setting in the same command.
var workerEnvironment = new List<KeyValuePair<string, string>>();
for (var i = 0; i < args.Length - 1; i++)
{
    if (args[i] == "--worker-env")
    {
        var pair = args[i + 1].Split('=', 2);
        workerEnvironment.Add(new(pair[0], pair.Length > 1 ? pair[1] : ""));
        args = [.. args[..i], .. args[(i + 2)..]];
        i--;
    }
}
if (args.Length > 0 && args[0] == "constrained")
{
    args = ["0", "0", args.Length > 1 ? args[1] : "5", "constrained"];
}
if (args.Length > 0 && args[0] == "decode-cost")
{
    DecodeCost.Run(args);
    return;
}
var constrainedOnly = args.Length > 3 && args[3] == "constrained";
var decodeAbOnly = args.Length > 0 && args[0] == "decode-ab";
if (decodeAbOnly)
{
    args = args.Length > 1 ? ["0", .. args[1..]] : ["0"];
}
var ttfbRequests = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 200;
var throughputSeconds = args.Length > 1 ? double.Parse(args[1], CultureInfo.InvariantCulture) : 6;
var throughputRounds = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 1;
var withHol = args.Length <= 3 || args[3] != "no-hol";
const string Model = "aurous-grow-2.0-pro";
const string Prompt = "Write a short story about a fox who learns to sail.";

Console.WriteLine("Booting the system (postgres, redis, blobs, worker, api) ...");
await using var system = await AurousTestApp.StartAsync(only: ["api"], configure: builder =>
{
    var worker = builder.Resources.OfType<Aspire.Hosting.ApplicationModel.ProjectResource>().Single(r => r.Name == "inference-worker");
    foreach (var (name, value) in workerEnvironment)
    {
        worker.Annotations.Add(new Aspire.Hosting.ApplicationModel.EnvironmentCallbackAnnotation(env => env[name] = value));
    }
});
if (workerEnvironment.Count > 0)
{
    Console.WriteLine("Worker environment: " + string.Join(", ", workerEnvironment.Select(v => $"{v.Key}={v.Value}")));
}
var (teamId, apiKey) = await system.CreateTeamAsync(credits: 1_000_000_000m);
await system.SetLimitsAsync(teamId, rpm: 100_000_000, tpm: 2_000_000_000);

// The worker-direct path gets exactly the token ids the API computes: ChatML rendering, then the model's tokenizer.
var tokenizer = BpeTokenizer.Load(Path.Combine(system.Settings.ModelsDirectory, Model, "tokenizer.json"));
var promptIds = tokenizer.Encode($"<|im_start|>user\n{Prompt}<|im_end|>\n<|im_start|>assistant\n");
Console.WriteLine($"Prompt: {promptIds.Length} tokens");

var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 512, PooledConnectionLifetime = Timeout.InfiniteTimeSpan })
{
    Timeout = TimeSpan.FromMinutes(5),
};
var client = new Client(http, new Uri(system.Endpoint("api"), "/v1/chat/completions"),
    new Uri(system.Endpoint("inference-worker"), "/internal/chat/completions"), apiKey, promptIds, system.InternalApiKey);

// Warm-up: JIT, connection pools, ONNX Runtime arenas, the API's caches.
for (var i = 0; i < 20; i++)
{
    await client.WorkerAsync(16, ignoreEos: false);
    await client.ApiAsync(16);
}
await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => client.WorkerAsync(32, ignoreEos: true)));
await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => client.ApiAsync(32)));
if (constrainedOnly)
{
    var costReport = await ConstrainedCost.RunAsync(client, throughputRounds);
    File.WriteAllText(Path.Combine(AppContext.BaseDirectory, "constrained.md"), costReport);
    return;
}
if (decodeAbOnly)
{
    var abReport = await DecodeAb.RunAsync(client, throughputSeconds, args.Length <= 2 ? 3 : throughputRounds);
    File.WriteAllText(Path.Combine(AppContext.BaseDirectory, "decode-ab.md"), abReport);
    return;
}

// ---- 1. Time to first delta, sequential, alternating targets so that both see the same background noise.
var workerRuns = new List<Run>();
var apiRuns = new List<Run>();
for (var i = 0; i < ttfbRequests; i++)
{
    workerRuns.Add(await client.WorkerAsync(16, ignoreEos: false));
    apiRuns.Add(await client.ApiAsync(16));
}
var wTtfb = Sorted(workerRuns.Where(r => r.Ok && r.FirstMs is not null).Select(r => r.FirstMs!.Value));
var aTtfb = Sorted(apiRuns.Where(r => r.Ok && r.FirstMs is not null).Select(r => r.FirstMs!.Value));
var wTotal = Sorted(workerRuns.Where(r => r.Ok).Select(r => r.TotalMs));
var aTotal = Sorted(apiRuns.Where(r => r.Ok).Select(r => r.TotalMs));

var report = new StringBuilder();
void Line(string s = "")
{
    Console.WriteLine(s);
    report.AppendLine(s);
}

Line();
Line($"### 1. Streamed time to first delta, {ttfbRequests} sequential requests per target, max_tokens 16");
Line();
Line("| target | ok | p50 ms | p90 ms | p99 ms | full response p50 ms | mean completion tokens |");
Line("|---|---|---|---|---|---|---|");
Line($"| worker (NDJSON) | {workerRuns.Count(r => r.Ok)}/{workerRuns.Count} | {P(wTtfb, .5):0.00} | {P(wTtfb, .9):0.00} | {P(wTtfb, .99):0.00} | {P(wTotal, .5):0.00} | {workerRuns.Where(r => r.Ok).Average(r => r.Tokens):0.0} |");
Line($"| api (SSE) | {apiRuns.Count(r => r.Ok)}/{apiRuns.Count} | {P(aTtfb, .5):0.00} | {P(aTtfb, .9):0.00} | {P(aTtfb, .99):0.00} | {P(aTotal, .5):0.00} | {apiRuns.Where(r => r.Ok).Average(r => r.Tokens):0.0} |");
Line($"| **api - worker** | | **{P(aTtfb, .5) - P(wTtfb, .5):+0.00;-0.00}** | {P(aTtfb, .9) - P(wTtfb, .9):+0.00;-0.00} | {P(aTtfb, .99) - P(wTtfb, .99):+0.00;-0.00} | {P(aTotal, .5) - P(wTotal, .5):+0.00;-0.00} | |");
var added = P(aTtfb, .5) - P(wTtfb, .5);
Line();
Line($"Target (API adds <= 2 ms p50 to time to first delta): {(added <= 2 ? "met" : "NOT met")} ({added:0.00} ms).");

Line();
Line("API Server-Timing stages before the first token (sent with the SSE headers), same requests:");
Line();
Line("| stage | p50 ms | p99 ms |");
Line("|---|---|---|");
foreach (var group in apiRuns.Where(r => r.Ok).SelectMany(r => r.Stages).GroupBy(s => s.Stage).OrderBy(g => g.Key, StringComparer.Ordinal))
{
    var values = Sorted(group.Select(s => s.Ms));
    Line($"| {group.Key} | {P(values, .5):0.000} | {P(values, .99):0.000} |");
}

// ---- 2. Aggregate completion tokens/s.
Line();
Line($"### 2. Aggregate completion tokens/s, closed loop, max_tokens 64, {throughputSeconds:0} s per cell{(throughputRounds > 1 ? $", median of {throughputRounds} alternating rounds" : "")}");
Line();
Line("| streams | worker, ignore_eos | worker, eos allowed | api (SSE, eos allowed) | api / worker (eos allowed) |");
Line("|---|---|---|---|---|");
foreach (var streams in new[] { 1, 8, 32 })
{
    var rounds = new List<(Throughput Wi, Throughput We, Throughput Ap)>();
    for (var round = 0; round < throughputRounds; round++)
    {
        rounds.Add((await Throughput(streams, () => client.WorkerAsync(64, ignoreEos: true)),
            await Throughput(streams, () => client.WorkerAsync(64, ignoreEos: false)),
            await Throughput(streams, () => client.ApiAsync(64))));
    }
    Throughput Median(Func<(Throughput Wi, Throughput We, Throughput Ap), Throughput> pick) => rounds.Select(pick).OrderBy(r => r.TokensPerSecond).ElementAt(rounds.Count / 2);
    var (wi, we, ap) = (Median(r => r.Wi), Median(r => r.We), Median(r => r.Ap));
    Line($"| {streams} | {wi.TokensPerSecond:N0} tok/s ({wi.MeanTokens:0.0} tok/req, {wi.Requests} req) | {we.TokensPerSecond:N0} tok/s ({we.MeanTokens:0.0} tok/req) | {ap.TokensPerSecond:N0} tok/s ({ap.MeanTokens:0.0} tok/req, {ap.Errors} errors) | {ap.TokensPerSecond / we.TokensPerSecond:0.00}x |");
}

// ---- 3. Head-of-line blocking. Short requests go out in two ways: one after another ("serial": never more than one
// short request in flight), and open loop at 10/s ("10/s": latency from when each was sent, so queueing counts).
// First with the worker idle, then while K long generations run; the window closes when the first long one ends, or
// after 15 s, and short requests sent after that are not part of it.
const int LongTokens = 4000;
Line();
Line($"### 3. Head-of-line blocking: short requests (worker direct, max_tokens 8, ignore_eos) while K long generations run (worker direct, ignore_eos, max_tokens {LongTokens})");
Line();
Line("| shorts sent | K long | long tokens/s each | short requests | first delta p50 / p99 ms | full p50 ms | full p90 ms | full p99 ms | p50 vs idle | share > 2x idle p50 |");
Line("|---|---|---|---|---|---|---|---|---|---|");
foreach (var interval in withHol ? new[] { 0, 100 } : [])
{
    var mode = interval == 0 ? "serial" : $"{1000 / interval}/s";
    var baseline = await Shorts(() => false, TimeSpan.FromSeconds(5), interval);
    var baseTotal = Sorted(baseline.Where(r => r.Ok).Select(r => r.TotalMs));
    var baseFirst = Sorted(baseline.Where(r => r.Ok).Select(r => r.FirstMs!.Value));
    var baseP50 = P(baseTotal, .5);
    Line($"| {mode} | 0 (idle) | | {baseTotal.Length} | {P(baseFirst, .5):0.00} / {P(baseFirst, .99):0.00} | {baseP50:0.00} | {P(baseTotal, .9):0.00} | {P(baseTotal, .99):0.00} | 1.00x | {baseTotal.Count(v => v > 2 * baseP50) * 100.0 / baseTotal.Length:0}% |");
    foreach (var k in new[] { 1, 4, 8, 16 })
    {
        using var stopLongs = new CancellationTokenSource();
        var longStarted = Enumerable.Range(0, k).Select(_ => new TaskCompletionSource()).ToArray();
        var longs = Enumerable.Range(0, k).Select(i => client.WorkerAsync(LongTokens, ignoreEos: true, stopLongs.Token, () => longStarted[i].TrySetResult())).ToArray();
        await Task.WhenAny(Task.WhenAll(longStarted.Select(t => t.Task)), Task.Delay(TimeSpan.FromSeconds(30)));
        var windowClock = Stopwatch.StartNew();
        var shorts = await Shorts(() => longs.Any(l => l.IsCompleted), TimeSpan.FromSeconds(15), interval);
        var window = windowClock.Elapsed.TotalSeconds;
        await stopLongs.CancelAsync();
        var longRuns = await Task.WhenAll(longs);
        var longRate = longRuns.Where(r => r.Tokens > 0 && r.TotalMs > 0).Select(r => r.Tokens / (r.TotalMs / 1000)).DefaultIfEmpty(0).Average();
        var sTotal = Sorted(shorts.Where(r => r.Ok).Select(r => r.TotalMs));
        var sFirst = Sorted(shorts.Where(r => r.Ok && r.FirstMs is not null).Select(r => r.FirstMs!.Value));
        Line($"| {mode} | {k} | {longRate:0} | {sTotal.Length} in {window:0.0} s | {P(sFirst, .5):0.00} / {P(sFirst, .99):0.00} | {P(sTotal, .5):0.00} | {P(sTotal, .9):0.00} | {P(sTotal, .99):0.00} | {P(sTotal, .5) / baseP50:0.00}x | {(sTotal.Length == 0 ? 0 : sTotal.Count(v => v > 2 * baseP50) * 100.0 / sTotal.Length):0}% |");
    }
}

var outFile = Path.Combine(AppContext.BaseDirectory, "chat-bench.md");
File.WriteAllText(outFile, report.ToString());
Console.WriteLine();
Console.WriteLine($"(tables also written to {outFile})");

async Task<List<Run>> Shorts(Func<bool> stop, TimeSpan limit, int intervalMs)
{
    var sent = new List<Task<Run>>();
    var clock = Stopwatch.StartNew();
    while (!stop() && clock.Elapsed < limit && sent.Count < 300)
    {
        var run = client.WorkerAsync(8, ignoreEos: true);
        sent.Add(run);
        if (intervalMs == 0)
        {
            await run;
            continue;
        }
        var due = TimeSpan.FromMilliseconds(intervalMs * sent.Count) - clock.Elapsed;
        if (due > TimeSpan.Zero)
        {
            await Task.Delay(due);
        }
    }
    return [.. await Task.WhenAll(sent)];
}

async Task<Throughput> Throughput(int streams, Func<Task<Run>> send)
{
    var tokens = 0L;
    var requests = 0;
    var errors = 0;
    var duration = TimeSpan.FromSeconds(throughputSeconds);
    var clock = Stopwatch.StartNew();
    await Task.WhenAll(Enumerable.Range(0, streams).Select(async _ =>
    {
        while (clock.Elapsed < duration)
        {
            var r = await send();
            if (r.Ok)
            {
                Interlocked.Add(ref tokens, r.Tokens);
                Interlocked.Increment(ref requests);
            }
            else
            {
                Interlocked.Increment(ref errors);
            }
        }
    }));
    var elapsed = clock.Elapsed.TotalSeconds;
    return new Throughput(tokens / elapsed, requests == 0 ? 0 : (double)tokens / requests, requests, errors);
}

static double[] Sorted(IEnumerable<double> values)
{
    var a = values.ToArray();
    Array.Sort(a);
    return a;
}

static double P(double[] sorted, double p) => sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))];

/// <summary>One streamed request: time to the first delta, to the end, and completion tokens (as the server counted them).</summary>
sealed record Run(bool Ok, double? FirstMs, double TotalMs, int Tokens)
{
    /// <summary>The API's Server-Timing stages (sent with the headers, so before the first token).</summary>
    public List<(string Stage, double Ms)> Stages { get; } = [];
}

sealed record Throughput(double TokensPerSecond, double MeanTokens, int Requests, int Errors);

sealed class Client(HttpClient http, Uri apiUrl, Uri workerUrl, string apiKey, int[] promptIds, string internalApiKey)
{
    private readonly string _promptJson = JsonSerializer.Serialize(promptIds);
    private static readonly string MessagesJson = JsonSerializer.Serialize(new[] { new { role = "user", content = "Write a short story about a fox who learns to sail." } });

    /// <summary>POST /internal/chat/completions; NDJSON lines {"type":"delta",...} then {"type":"done",...}.</summary>
    public async Task<Run> WorkerAsync(int maxTokens, bool ignoreEos, CancellationToken ct = default, Action? onFirst = null, bool decodeAlone = false, string? responseFormat = null)
    {
        var format = responseFormat is null ? "" : $$""","response_format":{{responseFormat}}""";
        var body = $$"""{"model":"aurous-grow-2.0-pro","prompt_token_ids":{{_promptJson}},"max_tokens":{{maxTokens}},"temperature":1.0,"top_p":1.0,"seed":null,"stop":[],"ignore_eos":{{(ignoreEos ? "true" : "false")}}{{format}}}""";
        var start = Stopwatch.GetTimestamp();
        double? first = null;
        var tokens = 0;
        var deltas = 0;
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, workerUrl) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", internalApiKey);
            if (decodeAlone)
            {
                request.Headers.Add("Aurous-Decode", "alone"); // the worker's per-request switch: one decode loop of its own
            }
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
            if (!response.IsSuccessStatusCode)
            {
                return new Run(false, null, Stopwatch.GetElapsedTime(start).TotalMilliseconds, 0);
            }
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(ct));
            var done = false;
            while (await reader.ReadLineAsync(ct) is { } line)
            {
                if (line.Length == 0)
                {
                    continue;
                }
                using var doc = JsonDocument.Parse(line);
                var type = doc.RootElement.GetProperty("type").GetString();
                if (type == "delta")
                {
                    if (first is null)
                    {
                        first = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                        onFirst?.Invoke();
                    }
                    deltas++;
                }
                else if (type == "done")
                {
                    tokens = doc.RootElement.GetProperty("completion_tokens").GetInt32();
                    done = true;
                }
            }
            return new Run(done, first, Stopwatch.GetElapsedTime(start).TotalMilliseconds, tokens);
        }
        catch (Exception ex) when (ex is OperationCanceledException or HttpRequestException or IOException)
        {
            // A cancelled long generation: count what it streamed (one delta per token at most, so a lower bound).
            return new Run(false, first, Stopwatch.GetElapsedTime(start).TotalMilliseconds, deltas);
        }
    }

    /// <summary>POST /v1/chat/completions with stream:true; SSE "data: {...}" chunks, the last one with usage, then [DONE].</summary>
    public async Task<Run> ApiAsync(int maxTokens, CancellationToken ct = default)
    {
        var body = $$"""{"model":"aurous-grow-2.0-pro","messages":{{MessagesJson}},"max_tokens":{{maxTokens}},"temperature":1.0,"top_p":1.0,"stream":true,"stream_options":{"include_usage":true} }""";
        var start = Stopwatch.GetTimestamp();
        double? first = null;
        var tokens = 0;
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, apiUrl) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            request.Headers.Add("X-Api-Key", apiKey);
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
            if (!response.IsSuccessStatusCode)
            {
                var error = await response.Content.ReadAsStringAsync(ct);
                Console.Error.WriteLine($"api {(int)response.StatusCode}: {error}");
                return new Run(false, null, Stopwatch.GetElapsedTime(start).TotalMilliseconds, 0);
            }
            var stages = new List<(string, double)>();
            if (response.Headers.TryGetValues("Server-Timing", out var timing))
            {
                foreach (var entry in string.Join(",", timing).Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
                {
                    var parts = entry.Split(";dur=");
                    if (parts.Length == 2)
                    {
                        stages.Add((parts[0], double.Parse(parts[1], CultureInfo.InvariantCulture)));
                    }
                }
            }
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(ct));
            var done = false;
            while (await reader.ReadLineAsync(ct) is { } line)
            {
                if (!line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    continue;
                }
                if (line == "data: [DONE]")
                {
                    done = true;
                    break;
                }
                if (first is null && line.Contains("\"content\":\"", StringComparison.Ordinal))
                {
                    first = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                }
                if (line.Contains("\"usage\":{", StringComparison.Ordinal))
                {
                    using var doc = JsonDocument.Parse(line.AsMemory(6));
                    if (doc.RootElement.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object)
                    {
                        tokens = usage.GetProperty("completion_tokens").GetInt32();
                    }
                }
            }
            var run = new Run(done, first, Stopwatch.GetElapsedTime(start).TotalMilliseconds, tokens);
            run.Stages.AddRange(stages);
            return run;
        }
        catch (Exception ex) when (ex is OperationCanceledException or HttpRequestException or IOException)
        {
            return new Run(false, first, Stopwatch.GetElapsedTime(start).TotalMilliseconds, 0);
        }
    }
}
