using Aurous.InferenceWorker.Chat;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Aurous.InferenceWorker.Tests;

/// <summary>The memory budget's bookkeeping: the plan's served window, FIFO admission, and the settings' validation.</summary>
public sealed class MemoryAdmissionTests
{
    private const long MiB = 1 << 20;

    /// <summary>The tiny chat model's dimensions (2 layers, 4 heads of 16, vocabulary 50,262) under <paramref name="budgetMb"/>.</summary>
    private static ChatMemoryPlan TinyPlan(long budgetMb, int chunk = 256, int context = 256_000) =>
        new(layers: 2, kvHeads: 4, heads: 4, headDim: 16, hiddenSize: 64, logitsWidth: 50_262, contextWindow: context, chunk, budgetMb * MiB);

    [Fact]
    public void The_served_window_is_the_longest_request_whose_peak_fits_the_budget()
    {
        var plan = TinyPlan(2048);

        plan.KvBytesPerToken.ShouldBe(2 * 2 * 4 * 16 * sizeof(float));
        plan.ServedContextWindow.ShouldBeInRange(1, 255_999);
        plan.RequestBytes(plan.ServedContextWindow, plan.ServedContextWindow).ShouldBeLessThanOrEqualTo(plan.BudgetBytes);
        plan.RequestBytes(plan.ServedContextWindow + 1, plan.ServedContextWindow + 1).ShouldBeGreaterThan(plan.BudgetBytes);
        // Linear, not quadratic, in the length once the prompt fills a chunk: each 50,000 tokens more cost the same.
        var step = plan.RequestBytes(100_000, 100_000) - plan.RequestBytes(50_000, 50_000);
        (plan.RequestBytes(150_000, 150_000) - plan.RequestBytes(100_000, 100_000)).ShouldBe(step);
        (step / 50_000).ShouldBeLessThan(32 * 1024, "about 19 KB per token for the tiny model with chunks of 256");
        TinyPlan(64 * 1024).ServedContextWindow.ShouldBe(256_000, "a large budget serves the whole nominal window");
        TinyPlan(1).ServedContextWindow.ShouldBe(0, "1 MiB cannot hold even one chunk's logits");
        TinyPlan(2048, chunk: 64).ServedContextWindow.ShouldBeGreaterThan(plan.ServedContextWindow, "smaller chunks, smaller scores");
    }

    [Fact]
    public async Task Reservations_wait_in_arrival_order_and_a_cancelled_one_lets_the_next_in()
    {
        var admission = new MemoryAdmission(100);
        var first = await admission.ReserveAsync(60, CancellationToken.None);
        using var cancel = new CancellationTokenSource();
        var big = admission.ReserveAsync(80, cancel.Token).AsTask();
        var small = admission.ReserveAsync(30, CancellationToken.None).AsTask();

        await Task.Delay(50);
        big.IsCompleted.ShouldBeFalse();
        small.IsCompleted.ShouldBeFalse("30 would fit now, but the 80 asked first: no overtaking");
        admission.Waiting.ShouldBe(2);
        admission.ReservedBytes.ShouldBe(60);

        await cancel.CancelAsync();
        await Should.ThrowAsync<OperationCanceledException>(() => big);
        using (await small)
        {
            admission.ReservedBytes.ShouldBe(90);
            admission.Waiting.ShouldBe(0);
        }
        first.Dispose();
        first.Dispose(); // twice gives back once
        admission.ReservedBytes.ShouldBe(0);
        await Should.ThrowAsync<ArgumentOutOfRangeException>(() => admission.ReserveAsync(101, CancellationToken.None).AsTask());
    }

    [Theory]
    [InlineData("Inference:MemoryBudgetMb", "8", "at least 16")]
    [InlineData("Inference:PrefillChunkTokens", "0", "from 1 to 8192")]
    [InlineData("Inference:PrefillChunkTokens", "10000", "from 1 to 8192")]
    public void Out_of_range_memory_settings_stop_the_worker_with_a_clear_message(string key, string value, string expected)
    {
        using var services = WorkerSettings.Services((key, value));

        Should.Throw<OptionsValidationException>(() => services.GetRequiredService<InferenceOptions>()).Message.ShouldContain(expected);
    }

    [Fact]
    public void Memory_settings_default_to_2048_mib_and_chunks_of_256()
    {
        using var services = WorkerSettings.Services();
        var options = services.GetRequiredService<InferenceOptions>();

        options.MemoryBudgetMb.ShouldBe(2048);
        options.MemoryBudgetBytes.ShouldBe(2048 * MiB);
        options.PrefillChunkTokens.ShouldBe(256);
    }
}
