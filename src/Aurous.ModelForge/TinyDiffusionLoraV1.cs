using System.Text;
using Aurous.InferenceWorker.Generation;
using Aurous.InferenceWorker.Media;
using Aurous.ModelForge.Onnx;
using Aurous.Models;

namespace Aurous.ModelForge;

/// <summary>
/// <c>aurous-forge/tiny-diffusion-lora-v1</c>: a LoRA adapter for a <see cref="TinyDiffusionV1"/> model, and its preview.
/// The adapter holds every one of the denoiser's LoRA inputs (<see cref="TinyDiffusionV1.LoraParameters"/>): A with
/// unit-gain weights and B scaled by <see cref="Strength"/>, drawn from a generator seeded by the LoRA's id, so each
/// LoRA is a different, repeatable style. The preview is made by the worker's own generator with the adapter applied
/// (<see cref="PreviewSize"/> square, the LoRA's description as the prompt, seed <see cref="PreviewSeed"/>).
/// </summary>
public static class TinyDiffusionLoraV1
{
    public const string GeneratorName = "aurous-forge/tiny-diffusion-lora-v1";
    public const float Strength = 0.6f;
    public const int PreviewSize = 512;
    public const long PreviewSeed = 7;

    /// <summary>The adapter file's bytes for LoRA <paramref name="loraId"/>: byte-identical for the same id.</summary>
    public static byte[] Adapter(string loraId)
    {
        var random = new DeterministicRandom(Fnv1a(loraId));
        var tensors = new List<OnnxTensor>();
        foreach (var (name, shape) in TinyDiffusionV1.LoraParameters)
        {
            var count = (int)shape.Aggregate(1L, (a, d) => a * d);
            // A maps the layer's input down to the rank (fan-in = everything but the first dimension); B maps back up.
            var isA = name.EndsWith(".lora_A", StringComparison.Ordinal);
            var fanIn = name.StartsWith("text_proj", StringComparison.Ordinal) ? (int)shape[0] : count / (int)shape[0];
            var values = isA ? random.Fill(count, MathF.Sqrt(3f / fanIn)) : random.Fill(count, Strength);
            tensors.Add(OnnxTensor.FromFloats(name, shape, values));
        }
        return OnnxAdapterWriter.Serialize(tensors);
    }

    /// <summary>The preview PNG: the base model with the adapter at <paramref name="adapterPath"/> (already written).</summary>
    public static byte[] Preview(string modelsDirectory, CatalogLora lora)
    {
        using var models = new GenerationModels(modelsDirectory, GenerationSessions.Cpu());
        var generator = new OnnxMediaGenerator(models, new GenerationOptions(), new MediaOptions());
        var request = new ImageGenerationRequest(lora.Manifest.BaseModel, lora.Manifest.Description, null, PreviewSize, PreviewSize, PreviewSeed, lora.Id);
        return generator.GenerateImageAsync(request, static (_, _, _) => ValueTask.CompletedTask, CancellationToken.None).GetAwaiter().GetResult().Bytes;
    }

    private static ulong Fnv1a(string text)
    {
        var hash = 0xcbf29ce484222325UL;
        foreach (var b in Encoding.UTF8.GetBytes(text))
        {
            hash = (hash ^ b) * 0x100000001b3UL;
        }
        return hash;
    }
}
