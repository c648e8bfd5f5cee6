using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.ML.OnnxRuntime;

namespace Aurous.InferenceWorker.Tests;

/// <summary>The worker hosted in-process on a temp models folder, observed only through HTTP.</summary>
public sealed class WorkerTests : IDisposable
{
    private readonly TempModels _models = new();

    [Fact]
    public async Task Info_reports_the_loaded_runtime_and_models_on_a_supported_provider_and_health_is_healthy()
    {
        ModelForge.Forge.EnsureGenerated(_models.Catalog());
        await using var factory = Worker(("Inference:ExecutionProvider", "auto"));
        using var client = factory.CreateClient();

        var info = await WaitUntilSettled(client);

        info.GetProperty("status").GetString().ShouldBe("ready");
        info.GetProperty("onnxruntime_version").GetString().ShouldBe(OrtEnv.Instance().GetVersionString());
        info.GetProperty("requested_provider").GetString().ShouldBe("auto");
        // auto: CUDA where it initialises, CPU elsewhere; either way one this runtime has.
        var provider = info.GetProperty("execution_provider").GetString();
        provider.ShouldBe(CudaMachine.IsUsable ? "CUDAExecutionProvider" : "CPUExecutionProvider");
        info.GetProperty("available_providers").EnumerateArray().Select(p => p.GetString()).ShouldContain(provider);
        var models = info.GetProperty("models").EnumerateArray().ToDictionary(m => m.GetProperty("id").GetString()!);
        var embed = models["aurous-embed-vision-1.0"];
        embed.GetProperty("kind").GetString().ShouldBe("embedding");
        embed.GetProperty("status").GetString().ShouldBe("loaded");
        embed.GetProperty("execution_provider").GetString().ShouldBe(provider);
        embed.GetProperty("output_dimension").GetInt32().ShouldBe(2048);
        embed.GetProperty("load_ms").GetDouble().ShouldBeGreaterThan(0);
        embed.GetProperty("inputs").EnumerateArray().Select(i => i.GetProperty("name").GetString()).ShouldBe(["input_ids", "attention_mask"]);
        embed.GetProperty("outputs")[0].GetProperty("shape").ToString().ShouldBe("""["batch",2048]""");
        var chat = models["aurous-grow-2.0-pro"];
        chat.GetProperty("kind").GetString().ShouldBe("chat");
        chat.GetProperty("status").GetString().ShouldBe("loaded");
        chat.GetProperty("inputs").EnumerateArray().Select(i => i.GetProperty("name").GetString()).ShouldContain("past_key_values.1.value");

        var health = await client.GetAsync("/health");
        var body = JsonDocument.Parse(await health.Content.ReadAsStringAsync()).RootElement;
        health.StatusCode.ShouldBe(HttpStatusCode.OK, body.ToString());
        body.GetProperty("status").GetString().ShouldBe("healthy");
        body.GetProperty("checks").GetProperty("models").GetProperty("status").GetString().ShouldBe("healthy");
    }

    [Fact]
    public async Task The_worker_never_writes_generated_weights_and_names_the_missing_file_and_how_to_make_it()
    {
        await using var factory = Worker(("Inference:ExecutionProvider", "cpu"), ("Models:Generate", "true"));
        using var client = factory.CreateClient();

        var info = await WaitUntilSettled(client);

        info.GetProperty("requested_provider").GetString().ShouldBe("cpu");
        var embed = info.GetProperty("models").EnumerateArray().Single(m => m.GetProperty("id").GetString() == "aurous-embed-vision-1.0");
        embed.GetProperty("status").GetString().ShouldBe("unavailable");
        embed.GetProperty("reason").GetString()!.ShouldContain("text_encoder.onnx");
        embed.GetProperty("reason").GetString()!.ShouldContain($"Aurous.ModelForge --models {_models.Directory}");
        File.Exists(Path.Combine(_models.Directory, "aurous-embed-vision-1.0", "text_encoder.onnx")).ShouldBeFalse();
    }

    [NoCudaFact]
    public async Task Demanding_cuda_without_it_makes_the_worker_unhealthy_with_the_reason()
    {
        await using var factory = Worker(("Inference:ExecutionProvider", "cuda"));
        using var client = factory.CreateClient();

        var info = await WaitUntilSettled(client);

        info.GetProperty("status").GetString().ShouldBe("failed");
        info.GetProperty("reason").GetString()!.ShouldContain("Inference:ExecutionProvider is 'cuda'");
        var health = await client.GetAsync("/health");
        health.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
        (await health.Content.ReadAsStringAsync()).ShouldContain("CUDAExecutionProvider");
    }

    [CudaFact]
    public async Task Demanding_cuda_where_it_works_runs_the_models_on_cuda()
    {
        ModelForge.Forge.EnsureGenerated(_models.Catalog());
        await using var factory = Worker(("Inference:ExecutionProvider", "cuda"));
        using var client = factory.CreateClient();

        var info = await WaitUntilSettled(client);

        info.GetProperty("status").GetString().ShouldBe("ready", info.ToString());
        info.GetProperty("execution_provider").GetString().ShouldBe("CUDAExecutionProvider");
        var loaded = info.GetProperty("models").EnumerateArray().Where(m => m.GetProperty("status").GetString() == "loaded").ToArray();
        loaded.Select(m => m.GetProperty("id").GetString()).ShouldContain("aurous-embed-vision-1.0");
        loaded.ShouldAllBe(m => m.GetProperty("execution_provider").GetString() == "CUDAExecutionProvider");
        (await client.GetAsync("/health")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task A_corrupt_model_file_degrades_the_worker()
    {
        File.WriteAllText(Path.Combine(_models.Directory, "aurous-embed-vision-1.0", "text_encoder.onnx"), "not onnx");
        await using var factory = Worker(("Inference:ExecutionProvider", "cpu"));
        using var client = factory.CreateClient();

        var info = await WaitUntilSettled(client);

        var embed = info.GetProperty("models").EnumerateArray().Single(m => m.GetProperty("id").GetString() == "aurous-embed-vision-1.0");
        embed.GetProperty("status").GetString().ShouldBe("unavailable");
        embed.GetProperty("reason").GetString()!.ShouldContain("text_encoder.onnx");
        var health = await client.GetAsync("/health");
        health.StatusCode.ShouldBe(HttpStatusCode.OK); // degraded still answers 200
        (await health.Content.ReadAsStringAsync()).ShouldContain("\"degraded\"");
    }

    private WebApplicationFactory<Program> Worker(params (string Key, string Value)[] settings) =>
        TestWorker.Create(builder =>
        {
            builder.UseSetting("Models:Path", _models.Directory);
            foreach (var (key, value) in settings)
            {
                builder.UseSetting(key, value);
            }
        });

    /// <summary>Models load in the background after start-up: poll /v1/info until the host is no longer loading.</summary>
    private static async Task<JsonElement> WaitUntilSettled(HttpClient client)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var json = await client.GetStringAsync("/v1/info");
            var info = JsonDocument.Parse(json).RootElement;
            if (info.GetProperty("status").GetString() != "loading" || DateTime.UtcNow > deadline)
            {
                return info;
            }
            await Task.Delay(50);
        }
    }

    public void Dispose() => _models.Dispose();
}
