using System.Runtime.Intrinsics;
using Aurous.InferenceWorker.Chat;

namespace Aurous.InferenceWorker.Tests;

/// <summary>
/// The sampler's specified exponential and its four-at-a-time weights, against the C library's exp and a plain loop.
/// </summary>
public sealed class SoftmaxWeightsTests
{
    [Fact]
    public void The_exponential_is_within_one_unit_in_the_last_place_of_the_library_one_down_to_the_smallest_weight()
    {
        var checkedValues = 0;
        var exact = 0;
        for (var x = -745.5; x <= 0; x += 0.000_731)
        {
            var expected = Math.Exp(x);
            var actual = SoftmaxWeights.Exp(Vector256.Create(x)).GetElement(0);
            var ulps = Math.Abs(BitConverter.DoubleToInt64Bits(expected) - BitConverter.DoubleToInt64Bits(actual));
            Assert.True(ulps <= 1, $"exp({x:R}): {actual:R} against {expected:R}, {ulps} units apart");
            exact += ulps == 0 ? 1 : 0;
            checkedValues++;
        }
        Assert.True(checkedValues > 1_000_000);
        Assert.True(exact > checkedValues * 0.8, $"{exact} of {checkedValues} equal to the library's");
    }

    [Fact]
    public void The_eight_lane_exponential_gives_the_four_lane_bits_whatever_the_machine()
    {
        // Fill uses eight lanes where 512-bit vectors are accelerated; its seeded draws must not depend on that.
        var inputs = new List<double> { 0.0, -0.0, -1e-300, -744.4, -745.1, -745.3, -1e6, double.NegativeInfinity, double.NaN };
        for (var x = -746.0; x <= 0; x += 0.000_977)
        {
            inputs.Add(x);
        }
        for (var i = 0; i + 8 <= inputs.Count; i += 8)
        {
            var eight = SoftmaxWeights.Exp(Vector512.Create(inputs.GetRange(i, 8).ToArray()));
            var low = SoftmaxWeights.Exp(Vector256.Create(inputs.GetRange(i, 4).ToArray()));
            var high = SoftmaxWeights.Exp(Vector256.Create(inputs.GetRange(i + 4, 4).ToArray()));
            for (var lane = 0; lane < 8; lane++)
            {
                var four = lane < 4 ? low.GetElement(lane) : high.GetElement(lane - 4);
                Assert.True(BitConverter.DoubleToInt64Bits(four) == BitConverter.DoubleToInt64Bits(eight.GetElement(lane)),
                    $"exp({inputs[i + lane]:R}): {eight.GetElement(lane):R} in eight lanes, {four:R} in four");
            }
        }
        Assert.True(inputs.Count > 700_000);
    }

    [Theory]
    [InlineData(0.0, 1.0)]
    [InlineData(-744.4, 4.9406564584124654E-324)]
    [InlineData(-745.3, 0.0)]
    [InlineData(double.NegativeInfinity, 0.0)]
    [InlineData(double.NaN, double.NaN)]
    public void The_exponential_keeps_the_edges(double x, double expected) =>
        Assert.Equal(expected, SoftmaxWeights.Exp(Vector256.Create(x)).GetElement(0));

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(16)]
    [InlineData(21)]
    [InlineData(50_262)]
    public void Weights_and_their_sum_are_the_plain_loops_with_this_exponential(int n)
    {
        var random = new Random(n);
        var logits = Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 40 - 30)).ToArray();
        foreach (var temperature in new[] { 0.25, 1.0, 1.6 })
        {
            var max = logits.Max();
            Assert.Equal(max, SoftmaxWeights.Max(logits));
            var weights = new double[n];
            var sum = SoftmaxWeights.Fill(logits, max, 1.0 / temperature, weights);
            double expectedSum = 0;
            for (var i = 0; i < n; i++)
            {
                var expected = SoftmaxWeights.Exp(Vector256.Create((logits[i] - max) * (1.0 / temperature))).GetElement(0);
                Assert.Equal(expected, weights[i]);
                expectedSum += expected;
            }
            Assert.Equal(expectedSum, sum);
        }
    }

    [Fact]
    public void The_maximum_is_the_scalar_one_with_NaN_and_infinities()
    {
        float[] withNaN = [1f, 2f, float.NaN, 3f, 0f, 0f, 0f, 0f, 0f, 0f, 5f];
        Assert.True(float.IsNaN(SoftmaxWeights.Max(withNaN)));
        Assert.Equal(float.NegativeInfinity, SoftmaxWeights.Max([]));
        Assert.Equal(float.PositiveInfinity, SoftmaxWeights.Max([0f, 1f, 2f, 3f, 4f, 5f, 6f, 7f, 8f, float.PositiveInfinity]));
        Assert.Equal(-1f, SoftmaxWeights.Max([-3f, -2f, -1f, -4f, -5f, -6f, -7f, -8f, -9f, -10f, -11f]));
    }
}
