using System.Diagnostics;
using Aurous.Models;
using Xunit.Abstractions;

namespace Aurous.InferenceWorker.Tests.Generation;

[Collection(GenerationCollection.Name)]
public sealed class ImageGenerationTests(GenerationFixture fixture, ITestOutputHelper output)
{
    /// <summary>Mean absolute RGB difference (0-255) above which two images count as visibly different.</summary>
    private const double VisiblyDifferent = 20;

    [Fact]
    public async Task The_same_seed_adapter_prompt_and_size_give_identical_bytes()
    {
        var first = await fixture.ImageAsync(seed: 1234, lora: "canvas-watercolor");
        var second = await fixture.ImageAsync(seed: 1234, lora: "canvas-watercolor");

        first.ContentType.ShouldBe("image/png");
        second.Bytes.ShouldBe(first.Bytes);
    }

    [Fact]
    public async Task Different_seeds_give_visibly_different_images()
    {
        var a = await fixture.ImageAsync(seed: 1);
        var b = await fixture.ImageAsync(seed: 2);

        var difference = GenerationFixture.MeanAbsoluteDifference(a.Bytes, b.Bytes);
        output.WriteLine($"seed 1 vs seed 2: mean absolute difference {difference:F1}");
        difference.ShouldBeGreaterThan(VisiblyDifferent);
    }

    [Fact]
    public async Task Different_adapters_and_no_adapter_give_visibly_different_images()
    {
        var none = await fixture.ImageAsync(seed: 5);
        var watercolor = await fixture.ImageAsync(seed: 5, lora: "canvas-watercolor");
        var neon = await fixture.ImageAsync(seed: 5, lora: "canvas-neon-noir");

        var pairs = new[] { ("none", none, "watercolor", watercolor), ("none", none, "neon", neon), ("watercolor", watercolor, "neon", neon) };
        foreach (var (nameA, a, nameB, b) in pairs)
        {
            var difference = GenerationFixture.MeanAbsoluteDifference(a.Bytes, b.Bytes);
            output.WriteLine($"{nameA} vs {nameB}: mean absolute difference {difference:F1}");
            difference.ShouldBeGreaterThan(VisiblyDifferent, $"{nameA} vs {nameB}");
        }
    }

    [Fact]
    public async Task The_prompt_and_the_negative_prompt_change_the_image()
    {
        var lighthouse = await fixture.ImageAsync(seed: 9, prompt: "a lighthouse on a cliff at dusk");
        var forest = await fixture.ImageAsync(seed: 9, prompt: "a dense pine forest covered in snow");
        var negative = await fixture.ImageAsync(seed: 9, prompt: "a lighthouse on a cliff at dusk", negative: "blurry, dark, low contrast");

        GenerationFixture.MeanAbsoluteDifference(lighthouse.Bytes, forest.Bytes).ShouldBeGreaterThan(5);
        GenerationFixture.MeanAbsoluteDifference(lighthouse.Bytes, negative.Bytes).ShouldBeGreaterThan(5);
    }

    [Fact]
    public async Task Every_image_size_decodes_to_exactly_its_width_and_height()
    {
        foreach (var size in GenerationSizes.Images)
        {
            var stopwatch = Stopwatch.StartNew();
            var image = await fixture.ImageAsync(size.Name, seed: 3);
            stopwatch.Stop();

            var (width, height, _) = GenerationFixture.Decode(image.Bytes);
            output.WriteLine($"{size.Name}: {width}x{height}, {image.Bytes.Length / 1024} KiB, {stopwatch.ElapsedMilliseconds} ms");
            (width, height).ShouldBe((size.Width, size.Height), size.Name);
            (image.Width, image.Height).ShouldBe((size.Width, size.Height), size.Name);
        }
    }

    [Fact]
    public async Task A_2k_image_is_made_on_this_cpu_in_seconds()
    {
        await fixture.ImageAsync("1k_1_1", seed: 11); // sessions loaded and warm
        var steps = new List<(int Step, int Total)>();
        var stopwatch = Stopwatch.StartNew();
        var image = await fixture.ImageAsync("2k_1_1", seed: 11, onStep: (step, total, _) =>
        {
            steps.Add((step, total));
            return ValueTask.CompletedTask;
        });
        stopwatch.Stop();

        output.WriteLine($"2k_1_1 on {Environment.ProcessorCount} cores: {stopwatch.ElapsedMilliseconds} ms, {image.Bytes.Length / 1024} KiB");
        GenerationFixture.Decode(image.Bytes).Width.ShouldBe(2048);
        // One callback per denoising step, in order (the runner's progress and cancel checks hang on them).
        steps.Count.ShouldBeGreaterThan(1);
        steps.Select(s => s.Step).ShouldBe(Enumerable.Range(1, steps.Count));
        steps.ShouldAllBe(s => s.Total == steps.Count);
        // Generous: the point is seconds, not minutes, on a shared 2-core machine.
        stopwatch.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(60));
    }

    [Fact]
    public async Task Cancelling_inside_a_step_stops_the_run()
    {
        using var cancel = new CancellationTokenSource();
        var steps = new List<int>();
        var run = fixture.ImageAsync("2k_1_1", seed: 13, onStep: (step, _, token) =>
        {
            steps.Add(step);
            if (step == 2)
            {
                cancel.Cancel();
            }
            token.ThrowIfCancellationRequested();
            return ValueTask.CompletedTask;
        }, cancellationToken: cancel.Token);

        await Should.ThrowAsync<OperationCanceledException>(run);
        steps.ShouldBe([1, 2]);
    }

    [Fact]
    public async Task A_cancel_during_an_onnx_run_stops_it_mid_step()
    {
        using var cancel = new CancellationTokenSource();
        var steps = 0;
        // Cancelled from outside while the first runs of a 2k image are in flight. A thread of its own, not a timer: the
        // generation holds its thread, and a timer callback could wait for a free pool thread on a busy machine.
        var stopwatch = Stopwatch.StartNew();
        new Thread(() =>
        {
            Thread.Sleep(20);
            cancel.Cancel();
        }) { IsBackground = true }.Start();
        await Should.ThrowAsync<OperationCanceledException>(fixture.ImageAsync("2k_1_1", seed: 17, onStep: (_, _, _) =>
        {
            steps++;
            return ValueTask.CompletedTask;
        }, cancellationToken: cancel.Token));
        output.WriteLine($"stopped after {stopwatch.ElapsedMilliseconds} ms and {steps} step(s)");
        steps.ShouldBeLessThan(8);
    }

    [Fact]
    public async Task Unknown_models_loras_and_sizes_are_refused_with_a_clear_message()
    {
        var unknownModel = await Should.ThrowAsync<ArgumentException>(fixture.Generator.GenerateImageAsync(
            new("aurous-nope", "x", null, 1024, 1024, 1, null), GenerationFixture.NoSteps, default));
        unknownModel.Message.ShouldContain("aurous-nope");
        var chatModel = await Should.ThrowAsync<ArgumentException>(fixture.Generator.GenerateImageAsync(
            new(GenerationFixture.Embed, "x", null, 1024, 1024, 1, null), GenerationFixture.NoSteps, default));
        chatModel.Message.ShouldContain("not an image or video generator");
        var unknownLora = await Should.ThrowAsync<ArgumentException>(fixture.ImageAsync(lora: "canvas-nope"));
        unknownLora.Message.ShouldContain("canvas-nope");
        var oddSize = await Should.ThrowAsync<ArgumentException>(fixture.Generator.GenerateImageAsync(
            new(GenerationFixture.Canvas, "x", null, 1000, 1000, 1, null), GenerationFixture.NoSteps, default));
        oddSize.Message.ShouldContain("multiples of 32");
    }
}
