using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Aurous.ModelForge;
using Xunit.Abstractions;

namespace Aurous.InferenceWorker.Tests;

/// <summary>
/// A worker process with a small chat memory budget (<c>Inference:MemoryBudgetMb</c>) serving the generated
/// vision-language model (nominal context 256,000), measured from outside: <c>/proc/PID/status</c>.
/// </summary>
public sealed class BudgetedWorkerFixture : IAsyncLifetime
{
    public const string Model = "budgeted-chat";
    public const int BudgetMb = 48;
    public const int ChunkTokens = 64;
    public const int NominalWindow = 256_000;

    private readonly TempModels _models = new(copyRepositoryManifests: false);

    public WorkerProcess Worker { get; private set; } = null!;
    /// <summary>The served context window the worker reports for <see cref="Model"/>.</summary>
    public int ServedWindow { get; private set; }

    public async Task InitializeAsync()
    {
        var files = string.Join(", ", new TinyDecoderV2().Roles.Select(r => $"\"{r}\": \"{r}{(r is "decoder" or "embeddings" or "vision" ? ".onnx" : ".json")}\""));
        _models.AddManifest(Model, $$"""
            {
              "id": "{{Model}}", "kind": "chat", "context_window": {{NominalWindow}},
              "credit_rates": { "input": { "text": 1 }, "output": { "text": 1 } },
              "files": { {{files}} },
              "generator": "{{TinyDecoderV2.GeneratorName}}"
            }
            """);
        Forge.EnsureGenerated(_models.Catalog());
        Worker = await WorkerProcess.StartAsync(_models.Directory, new Dictionary<string, string>
        {
            ["Inference:MemoryBudgetMb"] = BudgetMb.ToString(),
            ["Inference:PrefillChunkTokens"] = ChunkTokens.ToString(),
        });
        var info = JsonDocument.Parse(await Worker.Client.GetStringAsync("/v1/info")).RootElement;
        ServedWindow = info.GetProperty("models").EnumerateArray().Single(m => m.GetProperty("id").GetString() == Model)
            .GetProperty("served_context_window").GetInt32();
    }

    public async Task DisposeAsync()
    {
        await Worker.DisposeAsync();
        _models.Dispose();
    }
}

public sealed class MemoryBudgetTests(BudgetedWorkerFixture fx, ITestOutputHelper output) : IClassFixture<BudgetedWorkerFixture>
{
    private const string Route = "/internal/chat/completions";
    private const long MiB = 1 << 20;
    private const long Budget = BudgetedWorkerFixture.BudgetMb * MiB;
    /// <summary>
    /// What the worker may hold beyond the reserved peaks: request and response buffers, the managed heap between
    /// collections, thread stacks. Small against the budget: without admission three such prompts would take 3x it.
    /// </summary>
    private const long Slack = 24 * MiB;

    private static HttpContent Body(int promptTokens, int? maxTokens)
    {
        // <|im_start|> then a cycle of ordinary words: any ids in the vocabulary will do.
        var ids = new JsonArray(Enumerable.Range(0, promptTokens).Select(i => (JsonNode)(i == 0 ? 50257 : 464 + i % 500)).ToArray());
        var body = new JsonObject
        {
            ["model"] = BudgetedWorkerFixture.Model,
            ["prompt_token_ids"] = ids,
            ["max_tokens"] = maxTokens,
            ["temperature"] = 0,
            ["ignore_eos"] = true,
        };
        return new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
    }

    private async Task<(HttpStatusCode Status, JsonElement Last, double Ms)> PostAsync(int promptTokens, int? maxTokens)
    {
        var content = Body(promptTokens, maxTokens);
        await content.LoadIntoBufferAsync();
        var started = Stopwatch.GetTimestamp();
        using var response = await fx.Worker.Client.PostAsync(Route, content);
        var text = await response.Content.ReadAsStringAsync();
        var ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        var last = text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Last();
        return (response.StatusCode, JsonDocument.Parse(last).RootElement.Clone(), ms);
    }

    private async Task<JsonElement> ChatMemoryAsync() =>
        JsonDocument.Parse(await fx.Worker.Client.GetStringAsync("/v1/info")).RootElement.GetProperty("chat_memory").Clone();

    /// <summary>Idle resident memory: after a short generation (first-use costs paid), with nothing in flight.</summary>
    private async Task<long> IdleResidentAsync()
    {
        (await PostAsync(16, 4)).Status.ShouldBe(HttpStatusCode.OK);
        await Task.Delay(500);
        return fx.Worker.ResidentBytes;
    }

    [Fact]
    public async Task The_served_window_is_what_the_budget_holds_and_both_windows_are_reported()
    {
        output.WriteLine($"served context window under {BudgetedWorkerFixture.BudgetMb} MiB: {fx.ServedWindow} tokens");
        fx.ServedWindow.ShouldBeInRange(1_000, BudgetedWorkerFixture.NominalWindow - 1);

        var listed = JsonDocument.Parse(await fx.Worker.Client.GetStringAsync("/internal/models")).RootElement.GetProperty("models").EnumerateArray().Single();
        listed.GetProperty("id").GetString().ShouldBe(BudgetedWorkerFixture.Model);
        listed.GetProperty("context_window").GetInt32().ShouldBe(BudgetedWorkerFixture.NominalWindow);
        listed.GetProperty("served_context_window").GetInt32().ShouldBe(fx.ServedWindow);
        var memory = await ChatMemoryAsync();
        memory.GetProperty("budget_bytes").GetInt64().ShouldBe(Budget);

        // The longest request the window allows is served; one token more is not.
        var (status, last, _) = await PostAsync(fx.ServedWindow - 4, 4);
        status.ShouldBe(HttpStatusCode.OK);
        last.GetProperty("type").GetString().ShouldBe("done");
        last.GetProperty("completion_tokens").GetInt32().ShouldBe(4);
        (await PostAsync(fx.ServedWindow - 4, 5)).Status.ShouldBe(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task An_over_limit_prompt_is_refused_before_anything_is_allocated()
    {
        await PostAsync(fx.ServedWindow + 1, 1); // warm-up: the refusal path's first use
        var before = fx.Worker.ResidentBytes;
        fx.Worker.ResetPeak();

        // 120,000 tokens: what 20,000 short chat messages render to.
        var (status, error, ms) = await PostAsync(120_000, null);

        output.WriteLine($"120,000-token prompt refused in {ms:F1} ms; peak growth {(fx.Worker.PeakResidentBytes - before) / (double)MiB:F1} MiB");
        status.ShouldBe(HttpStatusCode.BadRequest);
        error.GetProperty("error").GetProperty("code").GetString().ShouldBe("context_length_exceeded");
        error.GetProperty("error").GetProperty("message").GetString().ShouldBe(
            $"This model's maximum context length is {fx.ServedWindow} tokens. However, your messages resulted in 120000 tokens. Please reduce the length of the messages.");
        (fx.Worker.PeakResidentBytes - before).ShouldBeLessThan(32 * MiB, "the request body only; no KV cache or scores were allocated");

        var (status2, error2, _) = await PostAsync(100, fx.ServedWindow);
        status2.ShouldBe(HttpStatusCode.BadRequest);
        error2.GetProperty("error").GetProperty("message").GetString().ShouldBe(
            $"This model's maximum context length is {fx.ServedWindow} tokens. However, you requested {100 + fx.ServedWindow} tokens (100 in the messages, {fx.ServedWindow} in the completion). Please reduce the length of the messages or completion.");
    }

    [Fact]
    public async Task Concurrent_maximum_length_prompts_queue_within_the_budget_and_the_memory_comes_back()
    {
        var idle = await IdleResidentAsync();
        fx.Worker.ResetPeak();
        var prompt = fx.ServedWindow - 8;

        var sawWaiting = false;
        var requests = Enumerable.Range(0, 3).Select(_ => PostAsync(prompt, 8)).ToArray();
        var all = Task.WhenAll(requests);
        while (!all.IsCompleted)
        {
            var memory = await ChatMemoryAsync();
            memory.GetProperty("reserved_bytes").GetInt64().ShouldBeLessThanOrEqualTo(Budget);
            sawWaiting |= memory.GetProperty("waiting").GetInt32() > 0;
            await Task.WhenAny(all, Task.Delay(50));
        }
        foreach (var (status, last, _) in await all)
        {
            status.ShouldBe(HttpStatusCode.OK);
            last.GetProperty("type").GetString().ShouldBe("done");
            last.GetProperty("prompt_tokens").GetInt32().ShouldBe(prompt);
        }
        var peak = fx.Worker.PeakResidentBytes - idle;
        sawWaiting.ShouldBeTrue("three maximum-length prompts do not fit the budget together: two of them wait");

        (await ChatMemoryAsync()).GetProperty("reserved_bytes").GetInt64().ShouldBe(0);
        await Task.Delay(1000);
        var after = fx.Worker.ResidentBytes - idle;
        output.WriteLine($"idle {idle / (double)MiB:F0} MiB; 3 x {prompt}-token prompts: peak +{peak / (double)MiB:F1} MiB " +
            $"(budget {BudgetedWorkerFixture.BudgetMb} MiB); 1 s after: +{after / (double)MiB:F1} MiB");
        peak.ShouldBeLessThanOrEqualTo(Budget + Slack);
        after.ShouldBeLessThan(16 * MiB, "a long prompt's KV cache and working memory go back to the system");
    }
}
