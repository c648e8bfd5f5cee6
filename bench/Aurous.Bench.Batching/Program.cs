using System.Diagnostics;
using System.Globalization;
using Aurous.InferenceWorker.Batching;
using Aurous.InferenceWorker.Embeddings;
using Aurous.InferenceWorker.Models;
using Aurous.ModelForge;
using Aurous.ModelForge.Onnx;
using Aurous.Tokenizers;
using Microsoft.ML.OnnxRuntime;

// Dynamic batching benchmark: the generated text encoder (aurous-forge/tiny-clip-v2's text tower) behind the worker's
// DynamicBatcher, driven by N concurrent clients for S seconds, with batching (max 32 items, 2 ms wait) and with
// MaxBatchSize=1, alternating for R rounds in the same process and run, so the ratio is measured under identical conditions. Before that,
// one client alone measures the single-request latency of the bare model (no batcher, no queueing).
//   dotnet run -c Release --project bench/Aurous.Bench.Batching -- [--seconds 3] [--rounds 3] [--clients 32] [--max-batch 32] [--wait-ms 2] [--head 768,0] [--threads 1] [--spin 0]
// --threads / --spin: ONNX Runtime intra-op threads (0: one per core) and spinning; default to the worker's defaults.
// --head lists MLP head widths to compare; 0 is the v1 tower (pooling -> one 64x2048 projection, no head).
var seconds = Arg("--seconds", 3.0);
// Modes alternate for this many rounds and each reports its median round: a burst of other load on a small shared machine
// then skews one round, not the ratio.
var rounds = (int)Arg("--rounds", 3);
var clients = (int)Arg("--clients", 32);
var maxBatch = (int)Arg("--max-batch", 32);
var waitMs = Arg("--wait-ms", 2.0);
// ONNX Runtime threading as the worker configures it by default (Inference:IntraOpThreads = 1, Inference:AllowSpinning = false).
var intraOpThreads = (int)Arg("--threads", 1);
var allowSpinning = Arg("--spin", 0) != 0;
// Head widths (--head 256,768,...): TinyTextEncoderV2.HeadWidth is the generated model; a narrow head has so little
// per-item compute that per-run overhead, not dense math, dominates on CPU (batching then has little to amortise).
var headWidths = (Environment.GetCommandLineArgs().SkipWhile(a => a != "--head").Skip(1).FirstOrDefault()
        ?? $"{TinyTextEncoderV2.HeadWidth}")
    .Split(',').Select(h => int.Parse(h, CultureInfo.InvariantCulture)).ToArray();
const int MaxBatchTokens = 16_384;

Console.WriteLine($"Aurous dynamic batching benchmark: {clients} concurrent clients, {seconds:0.#} s per mode, {Environment.ProcessorCount} CPU cores, ONNX Runtime {OrtEnv.Instance().GetVersionString()} (CPU, {(intraOpThreads == 0 ? "default" : intraOpThreads.ToString(CultureInfo.InvariantCulture))} intra-op thread(s), spinning {(allowSpinning ? "on" : "off")})");

// Realistic inputs: short texts tokenised with the model's own tokenizer (GPT-2 BPE), 5 to ~60 tokens each.
var tokenizerPath = Path.Combine(Path.GetTempPath(), $"aurous-bench-tokenizer-{Environment.ProcessId}.json");
File.WriteAllBytes(tokenizerPath, Gpt2TokenizerJson.Generate());
var tokenizer = BpeTokenizer.Load(tokenizerPath);
File.Delete(tokenizerPath);
string[] words = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "embedding", "vector", "search", "multimodal", "image", "video", "frame",
    "credits", "ledger", "Aurous", "platform", "inference", "latency", "throughput", "batch", "request", "tokenizer", "model", "context", "window", "2026"];
var random = new Random(42);
var inputs = Enumerable.Range(0, 512).Select(_ =>
    tokenizer.Encode(string.Join(' ', Enumerable.Range(0, random.Next(4, 48)).Select(_ => words[random.Next(words.Length)])) + ".")).ToArray();
Console.WriteLine($"inputs: {inputs.Length} texts, {inputs.Min(i => i.Length)}-{inputs.Max(i => i.Length)} tokens (mean {inputs.Average(i => i.Length):0.#})");

var tokenizerRate = MeasureTokenizer(tokenizer);
Console.WriteLine($"tokenizer CountTokens: {tokenizerRate / 1e6:0.00} M tokens/s on one thread (word cache warm)");

var summary = new List<string>();
TextEncoderModel encoder = null!;
foreach (var head in headWidths)
{
    Console.WriteLine();
    Console.WriteLine($"text encoder: v2 tower, embedding 64 -> mean pool -> 64x{head} -> tanh -> {head}x2048{(head == TinyTextEncoderV2.HeadWidth ? " (the generated aurous-embed-vision-1.0 model, aurous-forge/tiny-clip-v2)" : " (variant)")}");
    using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL, IntraOpNumThreads = intraOpThreads };
    options.AddSessionConfigEntry("session.intra_op.allow_spinning", allowSpinning ? "1" : "0");
    var model = TinyTextEncoderV2.BuildModel("aurous-embed-vision-1.0", head);
    var session = new InferenceSession(OnnxWriter.Serialize(model), options);
    encoder = TextEncoderModel.Create(session); // owns the session

    var single = MeasureSingle();
    Console.WriteLine($"single request, one client, no batcher: p50 {single.P50:0.000} ms, p99 {single.P99:0.000} ms ({single.Throughput:0} req/s)");

    var unbatchedRounds = new List<Result>();
    var batchedRounds = new List<Result>();
    for (var round = 0; round < rounds; round++)
    {
        unbatchedRounds.Add(await RunModeAsync("batch size 1", 1, 0));
        batchedRounds.Add(await RunModeAsync($"batched (max {maxBatch}, wait {waitMs:0.#} ms)", maxBatch, waitMs));
        Console.WriteLine($"  round {round + 1}: batch size 1 {unbatchedRounds[^1].Throughput:0} req/s, batched {batchedRounds[^1].Throughput:0} req/s, {batchedRounds[^1].Throughput / unbatchedRounds[^1].Throughput:0.00}x");
    }
    var unbatched = unbatchedRounds.OrderBy(r => r.Throughput).ElementAt(rounds / 2);
    var batched = batchedRounds.OrderBy(r => r.Throughput).ElementAt(rounds / 2);

    Console.WriteLine();
    Console.WriteLine($"median of {rounds} round(s) of {seconds:0.#} s:");
    Console.WriteLine($"{"mode",-34} {"req/s",10} {"p50 ms",8} {"p99 ms",8} {"mean batch",11}");
    foreach (var r in new[] { unbatched, batched })
    {
        Console.WriteLine($"{r.Name,-34} {r.Throughput,10:0} {r.P50,8:0.00} {r.P99,8:0.00} {r.MeanBatch,11:0.0}");
    }
    var ratio = batched.Throughput / unbatched.Throughput;
    Console.WriteLine($"throughput ratio batched / batch size 1: {ratio:0.00}x (target >= 3x) {(ratio >= 3 ? "PASS" : "BELOW TARGET")}");
    summary.Add($"head {(head == 0 ? "none (v1)" : head.ToString(CultureInfo.InvariantCulture)),9}: batched {batched.Throughput:0} req/s (p50 {batched.P50:0.00} ms) vs batch size 1 {unbatched.Throughput:0} req/s (p50 {unbatched.P50:0.00} ms) = {ratio:0.00}x; single request p50 {single.P50:0.000} ms");
    encoder.Dispose();
}
Console.WriteLine();
Console.WriteLine("summary:");
summary.ForEach(line => Console.WriteLine("  " + line));
return 0;

async Task<Result> RunModeAsync(string name, int batchSize, double wait)
{
    await using var batcher = new DynamicBatcher<int[], float[]>("bench", "text", batchSize, TimeSpan.FromMilliseconds(wait),
        batch => EmbeddingEngine.RunTextBatch(encoder, batch, MaxBatchTokens));
    await DriveAsync(batcher, TimeSpan.FromSeconds(Math.Min(1, seconds / 4)), null); // warm-up
    var latencies = new List<double>[clients];
    var (completed, batchItems, elapsed) = await DriveAsync(batcher, TimeSpan.FromSeconds(seconds), latencies);
    var all = latencies.SelectMany(l => l).Order().ToArray();
    return new Result(name, completed / elapsed.TotalSeconds, Percentile(all, 0.50), Percentile(all, 0.99), batchItems.Batches == 0 ? 0 : (double)batchItems.Items / batchItems.Batches);
}

async Task<(long Completed, (long Items, long Batches), TimeSpan Elapsed)> DriveAsync(DynamicBatcher<int[], float[]> batcher, TimeSpan duration, List<double>[]? latencies)
{
    long completed = 0;
    double batches = 0; // each item adds 1/size of its batch: the sum counts batches exactly
    var gate = new object();
    var stopwatch = Stopwatch.StartNew();
    var tasks = Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
    {
        var mine = latencies is null ? null : latencies[c] = new List<double>(4096);
        var k = c * 7919;
        while (stopwatch.Elapsed < duration)
        {
            var started = Stopwatch.GetTimestamp();
            var result = await batcher.RunAsync(inputs[k++ % inputs.Length]);
            mine?.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            lock (gate)
            {
                completed++;
                batches += 1.0 / result.BatchSize;
            }
        }
    })).ToArray();
    await Task.WhenAll(tasks);
    var elapsed = stopwatch.Elapsed;
    return (completed, (completed, (long)Math.Round(batches)), elapsed);
}

Result MeasureSingle()
{
    var batch = new[] { inputs[0] };
    for (var i = 0; i < 200; i++)
    {
        EmbeddingEngine.RunTextBatch(encoder, batch, MaxBatchTokens); // warm-up
    }
    var latencies = new List<double>(65536);
    var stopwatch = Stopwatch.StartNew();
    for (var n = 0; stopwatch.Elapsed < TimeSpan.FromSeconds(Math.Min(2, seconds / 2)); n++)
    {
        batch[0] = inputs[n % inputs.Length];
        var started = Stopwatch.GetTimestamp();
        EmbeddingEngine.RunTextBatch(encoder, batch, MaxBatchTokens);
        latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
    }
    var sorted = latencies.Order().ToArray();
    return new Result("single", sorted.Length / stopwatch.Elapsed.TotalSeconds, Percentile(sorted, 0.50), Percentile(sorted, 0.99), 1);
}

static double Percentile(double[] sorted, double p) => sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))];

double MeasureTokenizer(BpeTokenizer t)
{
    var texts = inputs.Select(i => t.Decode(i)).ToArray();
    long tokens = 0;
    var stopwatch = Stopwatch.StartNew();
    var n = 0;
    while (stopwatch.Elapsed < TimeSpan.FromSeconds(1))
    {
        tokens += t.CountTokens(texts[n++ % texts.Length]);
    }
    return tokens / stopwatch.Elapsed.TotalSeconds;
}

double Arg(string name, double fallback)
{
    var index = Array.IndexOf(args, name);
    return index >= 0 && index + 1 < args.Length ? double.Parse(args[index + 1], CultureInfo.InvariantCulture) : fallback;
}

internal sealed record Result(string Name, double Throughput, double P50, double P99, double MeanBatch);
