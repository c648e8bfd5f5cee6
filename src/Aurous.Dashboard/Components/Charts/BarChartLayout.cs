using System.Globalization;

namespace Aurous.Dashboard.Components.Charts;

/// <summary>One bar to draw: its category, its value and how the value reads in the tooltip.</summary>
public sealed record ChartBar(string Label, decimal Value, string ValueText);

/// <summary>A bar placed in the SVG's coordinates (the origin is top left, y grows downwards).</summary>
public sealed record PlacedBar(ChartBar Bar, double X, double Y, double Width, double Height, string? AxisLabel)
{
    public string Tooltip => $"{Bar.Label}: {Bar.ValueText}";
}

/// <summary>A horizontal grid line with its value on the vertical axis.</summary>
public sealed record AxisTick(decimal Value, double Y, string Label);

/// <summary>
/// The geometry of a bar chart, kept out of the markup so it can be checked on its own: a "nice" vertical scale
/// (0 to a round top in 1, 2 or 5 × 10^n steps), bars scaled to it, and category labels thinned out to stay legible.
/// </summary>
public sealed class BarChartLayout
{
    public const double Width = 640;
    public const double Height = 240;
    private const double MinLeft = 32;
    private const double LabelCharWidth = 7.5;
    public const double Right = 8;
    public const double Top = 12;
    public const double Bottom = 36;
    private const int MaxTicks = 5;
    private const int MaxAxisLabels = 8;

    public BarChartLayout(IReadOnlyList<ChartBar> bars)
    {
        if (bars.Any(b => b.Value < 0))
        {
            throw new ArgumentException("Bar charts show amounts that are never negative.", nameof(bars));
        }
        var max = bars.Count == 0 ? 0m : bars.Max(b => b.Value);
        Step = NiceStep(max);
        ScaleTop = max == 0 ? Step : Math.Ceiling(max / Step) * Step;
        Ticks = Enumerable.Range(0, (int)(ScaleTop / Step) + 1)
            .Select(i => i * Step)
            .Select(v => new AxisTick(v, YOf(v), Compact(v)))
            .ToList();
        // The vertical axis's labels sit left of the plot, right-aligned: leave room for the longest one.
        Left = Math.Max(MinLeft, 12 + LabelCharWidth * Ticks.Max(t => t.Label.Length));
        var slot = PlotWidth / Math.Max(bars.Count, 1);
        var labelEvery = (int)Math.Ceiling(bars.Count / (double)MaxAxisLabels);
        Bars = bars.Select((b, i) => new PlacedBar(
            b, Left + i * slot + slot * 0.1, YOf(b.Value), slot * 0.8, Baseline - YOf(b.Value),
            i % Math.Max(labelEvery, 1) == 0 ? b.Label : null)).ToList();
    }

    /// <summary>Where the plot starts: wide enough for the vertical axis's longest label.</summary>
    public double Left { get; }

    public double PlotWidth => Width - Left - Right;

    public static double Baseline => Height - Bottom;

    /// <summary>The distance between grid lines.</summary>
    public decimal Step { get; }

    /// <summary>The value at the top of the vertical axis: the smallest multiple of <see cref="Step"/> covering every bar.</summary>
    public decimal ScaleTop { get; }

    public IReadOnlyList<AxisTick> Ticks { get; }

    public IReadOnlyList<PlacedBar> Bars { get; }

    private double YOf(decimal value) => Baseline - (double)(value / ScaleTop) * (Baseline - Top);

    /// <summary>A step of 1, 2 or 5 × 10^n that divides the range into at most <see cref="MaxTicks"/> - 1 parts.</summary>
    public static decimal NiceStep(decimal max)
    {
        if (max <= 0)
        {
            return 1m;
        }
        var raw = max / (MaxTicks - 1);
        var magnitude = Pow10((int)Math.Floor(Math.Log10((double)raw)));
        foreach (var factor in new[] { 1m, 2m, 5m, 10m })
        {
            if (raw <= factor * magnitude)
            {
                return factor * magnitude;
            }
        }
        return 10m * magnitude;
    }

    /// <summary>An axis label: 1500 reads "1.5k", 2000000 "2M", 0.0005 "0.0005".</summary>
    public static string Compact(decimal value) => value switch
    {
        >= 1_000_000_000m => Trim(value / 1_000_000_000m) + "G",
        >= 1_000_000m => Trim(value / 1_000_000m) + "M",
        >= 10_000m => Trim(value / 1_000m) + "k",
        _ => Trim(value),
    };

    private static string Trim(decimal value) =>
        Math.Round(value, 6, MidpointRounding.AwayFromZero).ToString("0.######", CultureInfo.InvariantCulture);

    private static decimal Pow10(int exponent)
    {
        var result = 1m;
        for (var i = 0; i < Math.Abs(Math.Clamp(exponent, -27, 27)); i++)
        {
            result = exponent < 0 ? result / 10m : result * 10m;
        }
        return result;
    }
}
