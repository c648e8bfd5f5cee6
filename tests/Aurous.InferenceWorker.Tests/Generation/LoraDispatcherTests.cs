using Aurous.InferenceWorker.Generation;
using Microsoft.Extensions.DependencyInjection;

namespace Aurous.InferenceWorker.Tests.Generation;

/// <summary>The dispatcher and generator as the worker registers them (AddMediaGeneration), over a real embedding model.</summary>
[Collection(GenerationCollection.Name)]
public sealed class LoraDispatcherTests(GenerationFixture fixture)
{
    private async Task<ILoraDispatcher> DispatcherAsync() => (await fixture.WorkerServicesAsync()).GetRequiredService<ILoraDispatcher>();

    [Theory]
    [InlineData("a quiet harbour, watercolor, morning mist", "canvas-watercolor")]
    [InlineData("Cyberpunk alley with a lone figure", "canvas-neon-noir")]
    [InlineData("an old oak tree, INK SKETCH", "canvas-ink-sketch")]
    // Two trigger words: the one earlier in the prompt wins.
    [InlineData("pen drawing of a cyberpunk city", "canvas-ink-sketch")]
    public async Task A_trigger_word_in_the_prompt_picks_its_lora(string prompt, string expected)
    {
        var dispatcher = await DispatcherAsync();
        (await dispatcher.PickAsync(GenerationFixture.Canvas, prompt, default)).ShouldBe(expected);
    }

    [Theory]
    [InlineData("rain-slick streets under glowing magenta and cyan neon signs at night", "canvas-neon-noir")]
    [InlineData("pastel pigments bleeding on wet paper, soft washes, gentle light", "canvas-watercolor")]
    [InlineData("crisp black outlines and hatching, monochrome linework on white paper", "canvas-ink-sketch")]
    public async Task Without_a_trigger_word_the_closest_description_by_embedding_wins(string prompt, string expected)
    {
        var dispatcher = await DispatcherAsync();
        (await dispatcher.PickAsync(GenerationFixture.Canvas, prompt, default)).ShouldBe(expected);
    }

    [Fact]
    public async Task A_base_model_without_loras_gets_none_and_aliases_resolve()
    {
        var dispatcher = await DispatcherAsync();
        (await dispatcher.PickAsync(GenerationFixture.Motion, "watercolor waves", default)).ShouldBeNull();
        (await dispatcher.PickAsync("aurous-canvas", "watercolor waves", default)).ShouldBe("canvas-watercolor");
    }

    [Fact]
    public async Task The_registered_generator_makes_images_on_the_workers_provider()
    {
        var services = await fixture.WorkerServicesAsync();
        var generator = services.GetRequiredService<IMediaGenerator>();
        generator.ShouldBeSameAs(services.GetRequiredService<IMediaGenerator>());
        var image = await generator.GenerateImageAsync(new ImageGenerationRequest(GenerationFixture.Canvas, "a red kite", null, 576, 1024, 8, "canvas-ink-sketch"),
            GenerationFixture.NoSteps, default);
        GenerationFixture.Decode(image.Bytes).ShouldSatisfyAllConditions(
            d => d.Width.ShouldBe(576),
            d => d.Height.ShouldBe(1024));
        // Same request, same bytes, whichever instance of the generator made it (both on CPU here).
        (await fixture.ImageAsync("1k_9_16", seed: 8, lora: "canvas-ink-sketch", prompt: "a red kite")).Bytes.ShouldBe(image.Bytes);
    }
}
