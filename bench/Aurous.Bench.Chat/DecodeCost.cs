using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Aurous.Inference.Contracts;
using Aurous.InferenceWorker.Chat;
using Aurous.ModelForge;
using Aurous.Models;
using Microsoft.ML.OnnxRuntime;

/// <summary>
/// Where a batched decode step's CPU goes, in process (no HTTP, no other process): the chat model loaded as the worker
/// loads it, <c>streams</c> generations prefilled, then steps of one batched decoder run followed by each generation's
/// per-token work (steps alternate: one batched run, then one run per generation; sampling at temperature 1 / top_p 1 as the load benchmark asks, detokenizing, the NDJSON line),
/// each part timed in CPU time of this thread (CLOCK_THREAD_CPUTIME_ID), so other load on the machine barely moves it.
/// Usage: ... -- decode-cost [streams=32] [steps=200] [threads=1] [batched-run threads=threads]
/// </summary>
static class DecodeCost
{
    public static void Run(string[] args)
    {
        var streams = args.Length > 1 ? int.Parse(args[1]) : 32;
        var steps = args.Length > 2 ? int.Parse(args[2]) : 200;
        var threads = args.Length > 3 ? int.Parse(args[3]) : 1;
        var decodeThreads = args.Length > 4 ? int.Parse(args[4]) : threads;
        var catalog = ModelCatalog.Load(ModelCatalog.LocateModelsDirectory(null, Directory.GetCurrentDirectory()));
        Forge.EnsureGenerated(catalog);
        var entry = catalog.Models.Single(m => m.Manifest.Id == "aurous-grow-2.0-pro");
        SessionOptions Options(int intraOp)
        {
            var o = new SessionOptions { IntraOpNumThreads = intraOp, InterOpNumThreads = 1 };
            o.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
            o.AddSessionConfigEntry("session.inter_op.allow_spinning", "0");
            return o;
        }
        using var model = ChatModel.Create(new InferenceSession(entry.FilePath(ChatModel.DecoderRole), Options(threads)), entry,
            path => new InferenceSession(path, Options(threads)));
        if (decodeThreads != threads)
        {
            model.UseDecodeSession(new InferenceSession(entry.FilePath(ChatModel.DecoderRole), Options(decodeThreads)));
        }
        var prompt = model.Tokenizer.Encode("<|im_start|>user\nWrite a short story about a fox who learns to sail.<|im_end|>\n<|im_start|>assistant\n")
            .Select(i => (long)i).ToArray();

        var states = Enumerable.Range(0, streams).Select(_ => model.NewState()).ToArray();
        var samplers = Enumerable.Range(0, streams).Select(i => new TokenSampler(1.0, 1.0, (ulong)i, model.VocabSize)).ToArray();
        var detokenizers = Enumerable.Range(0, streams).Select(_ => new StreamingDetokenizer(model.Tokenizer, [])).ToArray();
        var logits = states.Select(s => model.Forward(s, prompt, CancellationToken.None)).ToArray();
        var tokens = new long[streams];
        double runWall = 0, runProcess = 0, run = 0, alone = 0, sample = 0, detokenize = 0, line = 0;
        long produced = 0, runTokens = 0, aloneTokens = 0;
        var buffer = new MemoryStream();
        for (var step = 0; step < steps; step++)
        {
            var t0 = ThreadCpuMs();
            for (var i = 0; i < streams; i++)
            {
                tokens[i] = samplers[i].Next(logits[i]);
            }
            var t1 = ThreadCpuMs();
            var texts = new string[streams];
            for (var i = 0; i < streams; i++)
            {
                texts[i] = model.ProducesText((int)tokens[i]) ? detokenizers[i].Add((int)tokens[i]) : "";
            }
            var t2 = ThreadCpuMs();
            for (var i = 0; i < streams; i++)
            {
                buffer.SetLength(0);
                JsonSerializer.Serialize(buffer, InternalChatEvent.Delta(texts[i], step + 1), InternalJson.Options);
                buffer.WriteByte((byte)'\n');
            }
            var t3 = ThreadCpuMs();
            var wall = System.Diagnostics.Stopwatch.GetTimestamp();
            var process = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime;
            // Steps alternate: one batched run for all, then one run per generation (as with batching off).
            var batched = step % 2 == 0;
            if (batched)
            {
                logits = model.ForwardStep(states, tokens, CancellationToken.None);
            }
            else
            {
                for (var i = 0; i < streams; i++)
                {
                    logits[i] = model.Forward(states[i], tokens.AsSpan(i, 1), CancellationToken.None);
                }
            }
            var t4 = ThreadCpuMs();
            if (step >= steps / 10)
            {
                // The first tenth warms the JIT and ONNX Runtime's arena up.
                sample += t1 - t0;
                detokenize += t2 - t1;
                line += t3 - t2;
                if (batched)
                {
                    runWall += System.Diagnostics.Stopwatch.GetElapsedTime(wall).TotalMilliseconds;
                    runProcess += (System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime - process).TotalMilliseconds;
                    run += t4 - t3;
                    runTokens += streams;
                }
                else
                {
                    alone += t4 - t3;
                    aloneTokens += streams;
                }
                produced += streams;
            }
        }
        foreach (var state in states)
        {
            state.Dispose();
        }
        var report = new StringBuilder();
        report.AppendLine($"decode-cost: {streams} streams, {steps} steps ({produced} tokens timed), intra-op threads {threads} (batched runs {decodeThreads}), CPU ms per token (this thread)");
        report.AppendLine($"  batched decoder run (ForwardStep) {run / runTokens:0.0000}");
        report.AppendLine($"    the same, whole process CPU / wall {runProcess / runTokens:0.0000} / {runWall / runTokens:0.0000}");
        report.AppendLine($"  one run per generation (Forward)  {alone / aloneTokens:0.0000}");
        report.AppendLine($"  sampling (T=1, top_p=1)           {sample / produced:0.0000}");
        report.AppendLine($"  detokenizing                      {detokenize / produced:0.0000}");
        report.AppendLine($"  NDJSON line                       {line / produced:0.0000}");
        report.AppendLine($"  per token besides the run         {(sample + detokenize + line) / produced:0.0000}");
        Console.Write(report);
    }

    [DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out TimeSpec time);

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    /// <summary>CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID), ms; with several intra-op threads a run's other threads are not counted.</summary>
    private static double ThreadCpuMs() => ClockGetTime(3, out var t) == 0 ? t.Seconds * 1e3 + t.Nanoseconds / 1e6 : double.NaN;
}
