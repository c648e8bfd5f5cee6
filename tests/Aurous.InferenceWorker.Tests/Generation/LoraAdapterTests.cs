using Aurous.ModelForge;
using Aurous.Models;
using Microsoft.ML.OnnxRuntime;

namespace Aurous.InferenceWorker.Tests.Generation;

/// <summary>The forge's LoRA files: ONNX Runtime's adapter format, accepted by ONNX Runtime, and applied per run.</summary>
[Collection(GenerationCollection.Name)]
public sealed class LoraAdapterTests(GenerationFixture fixture)
{
    private string AdapterPath(string lora) => Path.Combine(fixture.ModelsDirectory, LoraCatalog.DirectoryName, lora, "adapter.onnx_adapter");

    [Fact]
    public void The_forge_wrote_every_lora_adapter_and_preview()
    {
        var loras = LoraCatalog.Load(fixture.ModelsDirectory, ModelCatalog.Load(fixture.ModelsDirectory));
        loras.Loras.Select(l => l.Id).ShouldBe(GenerationFixture.Loras);
        foreach (var lora in loras.Loras)
        {
            fixture.Forged.ShouldContain(lora.AdapterPath);
            fixture.Forged.ShouldContain(lora.PreviewPath);
            lora.Manifest.BaseModel.ShouldBe(GenerationFixture.Canvas);
            var (width, height, _) = GenerationFixture.Decode(File.ReadAllBytes(lora.PreviewPath));
            (width, height).ShouldBe((TinyDiffusionLoraV1.PreviewSize, TinyDiffusionLoraV1.PreviewSize));
        }
        loras.ForBaseModel(GenerationFixture.Motion).ShouldBeEmpty();
    }

    [Fact]
    public void An_adapter_file_is_a_flatbuffer_with_onnx_runtimes_identifier_and_the_same_for_the_same_lora()
    {
        var bytes = File.ReadAllBytes(AdapterPath("canvas-watercolor"));
        // FlatBuffers: the root offset (4 bytes), then the file identifier.
        System.Text.Encoding.ASCII.GetString(bytes, 4, 4).ShouldBe("TORT");
        TinyDiffusionLoraV1.Adapter("canvas-watercolor").ShouldBe(bytes);
        TinyDiffusionLoraV1.Adapter("canvas-neon-noir").ShouldNotBe(bytes);
    }

    [Fact]
    public void Onnx_runtime_loads_the_adapter_and_it_changes_the_denoisers_output()
    {
        using var session = new InferenceSession(Path.Combine(fixture.ModelsDirectory, GenerationFixture.Canvas, "denoiser.onnx"));
        var loraInputs = TinyDiffusionV1.LoraParameters.Select(p => p.Name).ToArray();
        // The LoRA parameters are inputs that default to their (zero) initializers.
        session.OverridableInitializerMetadata.Keys.ShouldBe(loraInputs, ignoreOrder: true);

        using var adapter = OrtLoraAdapter.Create(AdapterPath("canvas-neon-noir"), null);
        using var other = OrtLoraAdapter.Create(AdapterPath("canvas-ink-sketch"), null);
        var plain = Denoise(session, null);
        var neon = Denoise(session, adapter);
        var ink = Denoise(session, other);

        MeanAbsolute(plain, neon).ShouldBeGreaterThan(0.05);
        MeanAbsolute(neon, ink).ShouldBeGreaterThan(0.05);
        // Applied per run, never baked in: the session without an adapter gives the base output again.
        Denoise(session, null).ShouldBe(plain);
        Denoise(session, adapter).ShouldBe(neon);
    }

    [Fact]
    public void Feeding_the_adapters_tensors_as_inputs_gives_what_the_adapter_gives()
    {
        // An independent check of the file's contents: the same A and B fed by name reproduce the adapter's output.
        using var session = new InferenceSession(Path.Combine(fixture.ModelsDirectory, GenerationFixture.Canvas, "denoiser.onnx"));
        using var adapter = OrtLoraAdapter.Create(AdapterPath("canvas-watercolor"), null);
        var viaAdapter = Denoise(session, adapter);
        var file = TinyDiffusionLoraV1.Adapter("canvas-watercolor");
        file.ShouldBe(File.ReadAllBytes(AdapterPath("canvas-watercolor")));
        var viaInputs = Denoise(session, null, TinyDiffusionLoraV1.Tensors("canvas-watercolor"));
        viaInputs.ShouldBe(viaAdapter);
    }

    private static float[] Denoise(InferenceSession session, OrtLoraAdapter? adapter, IReadOnlyList<(string Name, long[] Shape, float[] Values)>? extra = null)
    {
        const int side = 16;
        var count = TinyDiffusionV1.LatentChannels * side * side;
        var sample = Aurous.InferenceWorker.Generation.LatentNoise.Gaussian(99, count);
        var embeds = Enumerable.Range(0, TinyDiffusionV1.TextEmbedWidth).Select(i => MathF.Sin(i)).ToArray();
        var names = new List<string> { TinyDiffusionV1.Sample, TinyDiffusionV1.Sigma, TinyDiffusionV1.TextEmbeds };
        var values = new List<OrtValue>
        {
            OrtValue.CreateTensorValueFromMemory(sample, [1, TinyDiffusionV1.LatentChannels, side, side]),
            OrtValue.CreateTensorValueFromMemory(new[] { 1.0f }, [1]),
            OrtValue.CreateTensorValueFromMemory(embeds, [1, TinyDiffusionV1.TextEmbedWidth]),
        };
        foreach (var (name, shape, tensor) in extra ?? [])
        {
            names.Add(name);
            values.Add(OrtValue.CreateTensorValueFromMemory(tensor, shape));
        }
        try
        {
            using var options = new RunOptions();
            if (adapter is not null)
            {
                options.AddActiveLoraAdapter(adapter);
            }
            using var results = session.Run(options, names, values, [TinyDiffusionV1.Denoised]);
            return results[0].GetTensorDataAsSpan<float>().ToArray();
        }
        finally
        {
            values.ForEach(v => v.Dispose());
        }
    }

    private static double MeanAbsolute(float[] a, float[] b) => a.Zip(b, (x, y) => Math.Abs(x - y)).Average();
}
