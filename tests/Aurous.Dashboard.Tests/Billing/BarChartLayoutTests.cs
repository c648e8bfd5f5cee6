using Aurous.Dashboard.Components.Charts;

namespace Aurous.Dashboard.Tests.Billing;

public sealed class BarChartLayoutTests
{
    private static ChartBar Bar(string label, decimal value) => new(label, value, value.ToString(System.Globalization.CultureInfo.InvariantCulture));

    [Theory]
    [InlineData("0", "1")]
    [InlineData("3.7", "1")]
    [InlineData("4", "1")]
    [InlineData("4.1", "2")]
    [InlineData("17", "5")]
    [InlineData("40", "10")]
    [InlineData("123456", "50000")]
    [InlineData("0.00042", "0.0002")]
    public void The_step_is_one_two_or_five_times_a_power_of_ten_giving_at_most_four_intervals(string max, string step)
    {
        var expected = decimal.Parse(step, System.Globalization.CultureInfo.InvariantCulture);
        var top = decimal.Parse(max, System.Globalization.CultureInfo.InvariantCulture);

        BarChartLayout.NiceStep(top).ShouldBe(expected);
        if (top > 0)
        {
            Math.Ceiling(top / expected).ShouldBeLessThanOrEqualTo(4m);
        }
    }

    [Fact]
    public void Bars_are_scaled_to_a_round_top_and_stand_on_the_baseline()
    {
        var layout = new BarChartLayout([Bar("a", 0m), Bar("b", 30m), Bar("c", 60m)]);

        layout.Step.ShouldBe(20m);
        layout.ScaleTop.ShouldBe(60m);
        layout.Ticks.Select(t => t.Value).ShouldBe([0m, 20m, 40m, 60m]);
        layout.Ticks.Select(t => t.Label).ShouldBe(["0", "20", "40", "60"]);
        layout.Ticks[0].Y.ShouldBe(BarChartLayout.Baseline);
        layout.Ticks[^1].Y.ShouldBe(BarChartLayout.Top);

        var plotHeight = BarChartLayout.Baseline - BarChartLayout.Top;
        layout.Bars.Select(b => b.Height).ShouldBe([0, plotHeight / 2, plotHeight], tolerance: 1e-9);
        layout.Bars.ShouldAllBe(b => Math.Abs(b.Y + b.Height - BarChartLayout.Baseline) < 1e-9);
        // Left to right, in order, each inside the plot area and none overlapping the next.
        layout.Bars.Zip(layout.Bars.Skip(1)).ShouldAllBe(p => p.First.X + p.First.Width < p.Second.X);
        layout.Bars[0].X.ShouldBeGreaterThanOrEqualTo(layout.Left);
        (layout.Bars[^1].X + layout.Bars[^1].Width).ShouldBeLessThanOrEqualTo(BarChartLayout.Width - BarChartLayout.Right);
        layout.Bars[1].Tooltip.ShouldBe("b: 30");
    }

    [Fact]
    public void Thirty_days_get_at_most_eight_axis_labels_starting_with_the_first()
    {
        var bars = Enumerable.Range(1, 30).Select(i => Bar($"day {i}", i)).ToList();

        var labelled = new BarChartLayout(bars).Bars.Where(b => b.AxisLabel is not null).Select(b => b.AxisLabel).ToList();

        labelled.Count.ShouldBeLessThanOrEqualTo(8);
        labelled.Count.ShouldBeGreaterThanOrEqualTo(4);
        labelled[0].ShouldBe("day 1");
    }

    [Fact]
    public void An_empty_or_all_zero_chart_has_a_unit_scale_and_no_height()
    {
        new BarChartLayout([]).ScaleTop.ShouldBe(1m);
        var zeros = new BarChartLayout([Bar("a", 0m), Bar("b", 0m)]);
        zeros.ScaleTop.ShouldBe(1m);
        zeros.Bars.ShouldAllBe(b => b.Height == 0);
    }

    [Fact]
    public void Negative_amounts_are_refused() =>
        Should.Throw<ArgumentException>(() => new BarChartLayout([Bar("a", -1m)]));

    [Theory]
    [InlineData("0.0005", "0.0005")]
    [InlineData("950", "950")]
    [InlineData("15000", "15k")]
    [InlineData("2500000", "2.5M")]
    public void Axis_labels_are_compact(string value, string label) =>
        BarChartLayout.Compact(decimal.Parse(value, System.Globalization.CultureInfo.InvariantCulture)).ShouldBe(label);

    [Fact]
    public void The_plot_leaves_room_for_the_longest_axis_label()
    {
        var tiny = new BarChartLayout([new ChartBar("2026-12-03", 0.0000031m, "0.0000031 credits")]);
        var small = new BarChartLayout([new ChartBar("2026-12-03", 3m, "3 credits")]);

        tiny.Ticks.Max(t => t.Label.Length).ShouldBe("0.000004".Length);
        tiny.Left.ShouldBeGreaterThan(small.Left);
        // About 7 units per character at the axis's font size, plus the gap to the plot.
        tiny.Left.ShouldBeGreaterThanOrEqualTo(7 * "0.000004".Length + 6);
        tiny.Bars.ShouldAllBe(b => b.X >= tiny.Left);
    }
}
