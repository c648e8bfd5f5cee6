using System.Diagnostics;
using System.Globalization;
using Aurous.InferenceWorker.Batching;
using Aurous.InferenceWorker.Embeddings;
using Aurous.InferenceWorker.Models;
using Aurous.ModelForge;
using Aurous.ModelForge.Onnx;
using Aurous.Tokenizers;
using Microsoft.ML.OnnxRuntime;

// Dynamic batching benchmark: the generated text encoder (aurous-forge/tiny-clip-v1's text tower) behind the worker's
// DynamicBatcher, driven by N concurrent clients for S seconds, once with batching (max 32 items, 2 ms wait) and once
// with MaxBatchSize=1, in the same process and run, so the ratio is measured under identical conditions.
//   dotnet run -c Release --project bench/Aurous.Bench.Batching -- [--seconds 5] [--clients 32] [--max-batch 32] [--wait-ms 2] [--hidden 64,384]
var seconds = Arg("--seconds", 5.0);
var clients = (int)Arg("--clients", 32);
var maxBatch = (int)Arg("--max-batch", 32);
var waitMs = Arg("--wait-ms", 2.0);
// Tower widths: 64 is the generated model (so small that per-item compute, not per-run overhead, dominates on CPU);
// 384 is a MiniLM-width tower whose per-run cost resembles a real small encoder's.
var hiddenSizes = (Environment.GetCommandLineArgs().SkipWhile(a => a != "--hidden").Skip(1).FirstOrDefault() ?? "64,384")
    .Split(',').Select(h => int.Parse(h, CultureInfo.InvariantCulture)).ToArray();
const int MaxBatchTokens = 16_384;

Console.WriteLine($"Aurous dynamic batching benchmark: {clients} concurrent clients, {seconds:0.#} s per mode, {Environment.ProcessorCount} CPU cores, ONNX Runtime {OrtEnv.Instance().GetVersionString()} (CPU)");

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
foreach (var hidden in hiddenSizes)
{
    Console.WriteLine();
    Console.WriteLine($"text encoder: tiny text tower, hidden {hidden} -> 2048{(hidden == TinyTextEncoderV1.HiddenSize ? " (the generated aurous-embed-vision-1.0 model)" : " (MiniLM-width variant)")}");
    using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
    var session = new InferenceSession(OnnxWriter.Serialize(TinyTextEncoderV1.BuildModel("aurous-embed-vision-1.0", hidden)), options);
    encoder = TextEncoderModel.Create(session); // owns the session

    var unbatched = await RunModeAsync("batch size 1", 1, 0);
    var batched = await RunModeAsync($"batched (max {maxBatch}, wait {waitMs:0.#} ms)", maxBatch, waitMs);

    Console.WriteLine();
    Console.WriteLine($"{"mode",-34} {"req/s",10} {"p50 ms",8} {"p99 ms",8} {"mean batch",11}");
    foreach (var r in new[] { unbatched, batched })
    {
        Console.WriteLine($"{r.Name,-34} {r.Throughput,10:0} {r.P50,8:0.00} {r.P99,8:0.00} {r.MeanBatch,11:0.0}");
    }
    var ratio = batched.Throughput / unbatched.Throughput;
    Console.WriteLine($"throughput ratio batched / batch size 1: {ratio:0.00}x (target >= 3x) {(ratio >= 3 ? "PASS" : "BELOW TARGET")}");
    summary.Add($"hidden {hidden,4}: batched {batched.Throughput:0} req/s vs batch size 1 {unbatched.Throughput:0} req/s = {ratio:0.00}x");
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
