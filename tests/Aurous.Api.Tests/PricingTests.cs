using Aurous.Api.Metering;
using Aurous.Models;

namespace Aurous.Api.Tests;

/// <summary>The price rule: credits per 1M tokens, each modality rounded once to 12 decimals; never above the hold.</summary>
public sealed class PricingTests
{
    private static ModelManifest Model(decimal input = 0.21m, decimal output = 0.84m, decimal visual = 0.21m, decimal video = 0m) => new()
    {
        Id = "m",
        Kind = ModelKind.Chat,
        ContextWindow = 1000,
        CreditRates = new CreditRates
        {
            Input = new Dictionary<string, decimal> { ["text"] = input, ["visual"] = visual, ["video"] = video },
            Output = new Dictionary<string, decimal> { ["text"] = output },
        },
    };

    [Fact]
    public void The_seed_chat_rates_price_exactly()
    {
        var charge = Pricing.Price(Model(), new TokenUsage(TextInput: 21, TextOutput: 24));

        charge.Text.ShouldBe(0.00000441m);   // 21 * 0.21 / 1M
        charge.Output.ShouldBe(0.00002016m); // 24 * 0.84 / 1M
        charge.Visual.ShouldBe(0m);
        charge.Total.ShouldBe(0.00002457m);
    }

    [Theory]
    // One token at 0.0000005 credits per 1M is 5e-13: half of the smallest ledger unit rounds away from zero.
    [InlineData(1, "0.0000005", "0.000000000001")]
    [InlineData(1, "0.0000004", "0")]
    [InlineData(1, "0.0000015", "0.000000000002")]
    [InlineData(3, "0.0000005", "0.000000000002")] // 1.5e-12, half away from zero
    [InlineData(1, "0.000001", "0.000000000001")]
    public void Tiny_amounts_round_half_away_from_zero_to_twelve_decimals(long tokens, string rate, string expected)
    {
        var charge = Pricing.Price(Model(input: decimal.Parse(rate, System.Globalization.CultureInfo.InvariantCulture)), new TokenUsage(tokens));
        charge.Total.ShouldBe(decimal.Parse(expected, System.Globalization.CultureInfo.InvariantCulture));
        charge.Total.ShouldBeGreaterThanOrEqualTo(0m);
    }

    [Fact]
    public void Very_large_counts_stay_exact()
    {
        var charge = Pricing.Price(Model(input: 123.456789m, output: 999.999999m), new TokenUsage(TextInput: 4_000_000_000_000_000_000, TextOutput: 1_000_000_000_000));

        charge.Text.ShouldBe(493_827_156_000_000m);
        charge.Output.ShouldBe(999_999_999m);
        charge.Total.ShouldBe(493_828_155_999_999m);
    }

    [Fact]
    public void Zero_tokens_cost_zero_and_missing_rates_are_free()
    {
        Pricing.Price(Model(), new TokenUsage(0)).Total.ShouldBe(0m);
        Pricing.Price(Model(), new TokenUsage(0, VideoInput: 1_000)).Total.ShouldBe(0m); // no video rate
    }

    [Fact]
    public void Negative_counts_and_rates_are_refused_rather_than_credited()
    {
        Should.Throw<ArgumentOutOfRangeException>(() => Pricing.Price(Model(), new TokenUsage(-1)));
        Should.Throw<ArgumentOutOfRangeException>(() => Pricing.Price(Model(), new TokenUsage(1, TextOutput: -5)));
        Should.Throw<ArgumentOutOfRangeException>(() => Pricing.Price(Model(input: -0.21m), new TokenUsage(10)));
    }

    [Fact]
    public void Pricing_is_deterministic_and_additive_per_modality()
    {
        var usage = new TokenUsage(TextInput: 777, VisualInput: 256, VideoInput: 0, TextOutput: 1234);
        var prices = Enumerable.Range(0, 100).Select(_ => Pricing.Price(Model(), usage)).Distinct().ToArray();
        prices.Length.ShouldBe(1);
        var charge = prices[0];
        charge.Total.ShouldBe(charge.Text + charge.Visual + charge.Video + charge.Output);
        charge.Visual.ShouldBe(256 * 0.21m / 1_000_000m);
    }

    [Fact]
    public void Within_the_hold_the_price_is_charged_unchanged()
    {
        var charge = Pricing.Price(Model(), new TokenUsage(21, TextOutput: 24));
        Pricing.WithinHold(charge, charge.Total).ShouldBe(charge);
        Pricing.WithinHold(charge, 1m).ShouldBe(charge);
    }

    [Theory]
    [InlineData("0.000030", "0.000010", "0.000001", "0", "0.000020")]
    [InlineData("0.000000000007", "0.000000000005", "0", "0.000000000003", "0.000000000011")] // rounding leaves a remainder
    [InlineData("1", "1", "1", "1", "0.000000000001")]
    [InlineData("0.333333333333", "0.333333333333", "0.333333333333", "0", "0.5")]
    [InlineData("5", "0", "0", "0", "0")]
    public void Above_the_hold_the_charge_is_exactly_the_hold_and_no_modality_exceeds_its_price(string text, string visual, string output, string video, string hold)
    {
        static decimal D(string s) => decimal.Parse(s, System.Globalization.CultureInfo.InvariantCulture);
        var price = new Charge(D(text), D(visual), D(video), D(output));
        var held = D(hold);

        var capped = Pricing.WithinHold(price, held);

        capped.Total.ShouldBe(held, "never more than the hold, and not less either: the remainder is not lost");
        capped.Text.ShouldBeInRange(0m, price.Text);
        capped.Visual.ShouldBeInRange(0m, price.Visual);
        capped.Video.ShouldBeInRange(0m, price.Video);
        capped.Output.ShouldBeInRange(0m, price.Output);
        foreach (var part in new[] { capped.Text, capped.Visual, capped.Video, capped.Output })
        {
            (part * 1_000_000_000_000m).ShouldBe(Math.Truncate(part * 1_000_000_000_000m), "each modality fits the ledger's 12 decimals");
        }
    }

    [Fact]
    public void A_negative_hold_is_refused()
    {
        Should.Throw<ArgumentOutOfRangeException>(() => Pricing.WithinHold(new Charge(1m, 0m, 0m, 0m), -1m));
    }
}
