using Aurous.Jobs.Webhooks;

namespace Aurous.EndToEnd.Tests.Webhooks;

/// <summary>The retry schedule: exponential windows capped at RetryMaxDelay, each delay drawn uniformly inside its window.</summary>
public sealed class WebhookBackoffTests
{
    private static readonly WebhookOptions Defaults = new();

    [Theory]
    [InlineData(1, 30)]
    [InlineData(2, 60)]
    [InlineData(5, 480)]
    [InlineData(10, 15360)]
    [InlineData(11, 21600)]
    [InlineData(60, 21600)]
    public void Each_delay_lies_in_its_window_and_the_draws_spread_over_it(int attempt, double windowSeconds)
    {
        var delays = Enumerable.Range(0, 2000).Select(_ => WebhookDelivery.Backoff(attempt, Defaults).TotalSeconds).ToArray();

        delays.ShouldAllBe(d => d >= 0 && d <= windowSeconds);
        delays.Max().ShouldBeGreaterThan(windowSeconds * 0.9);
        delays.Min().ShouldBeLessThan(windowSeconds * 0.1);
        delays.Average().ShouldBe(windowSeconds / 2, windowSeconds * 0.05);
    }

    [Fact]
    public void The_defaults_retry_for_at_least_a_day_and_disable_only_after_days_of_failures()
    {
        Defaults.RetryWindow.ShouldBeGreaterThanOrEqualTo(TimeSpan.FromHours(24));
        Defaults.DisableAfterFailingFor.ShouldBeGreaterThanOrEqualTo(TimeSpan.FromHours(24));
        Defaults.AttemptTimeout.ShouldBe(TimeSpan.FromSeconds(10));
        Defaults.RotationGrace.ShouldBe(TimeSpan.FromHours(24));
    }
}
