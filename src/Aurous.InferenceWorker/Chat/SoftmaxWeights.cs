using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Aurous.InferenceWorker.Chat;

/// <summary>
/// The sampler's unnormalised softmax weights, exp((logit - max) / temperature) in double precision, four at a time.
/// The exponential is specified here with IEEE additions and multiplications only (no fused multiply-add, no table, no
/// library call), so it gives the same bits on every machine and .NET version, vectorised or not: the argument splits
/// as k·ln 2 + r (|r| ≤ ln 2 / 2, Cody-Waite with a two-part ln 2), exp(r) is its Taylor polynomial to degree 13
/// (truncation under 5e-18), and 2^k is applied in two halves so weights down to the smallest subnormal come out.
/// It stays within a few units in the last place of the C library's exp, so a seed draws the same tokens as an exact
/// exponential would except where a draw falls within that rounding of the boundary between two tokens.
/// </summary>
internal static class SoftmaxWeights
{
    private const double InverseLn2 = 1.4426950408889634;
    // ln 2 in two parts; the high part has its low 32 bits zero, so k·Ln2High is exact for every k used here.
    private const double Ln2High = 6.93147180369123816490e-01;
    private const double Ln2Low = 1.90821492927058770002e-10;
    /// <summary>1.5·2^52: adding it rounds to an integer (ties to even) held in the low bits.</summary>
    private const double RoundingShift = 6755399441055744.0;
    /// <summary>Below this, exp underflows to 0 (the smallest subnormal is 2^-1074 ≈ e^-744.44).</summary>
    private const double Underflow = -745.2;

    /// <summary>The largest of <paramref name="logits"/> (NaN if any is NaN; -∞ for none), as a scalar maximum would find it.</summary>
    public static float Max(ReadOnlySpan<float> logits)
    {
        var i = 0;
        var max = float.NegativeInfinity;
        if (logits.Length >= Vector256<float>.Count)
        {
            var lanes = Vector256.Create(float.NegativeInfinity);
            for (; i <= logits.Length - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                lanes = Vector256.Max(lanes, Vector256.Create(logits.Slice(i, Vector256<float>.Count)));
            }
            for (var lane = 0; lane < Vector256<float>.Count; lane++)
            {
                max = Math.Max(max, lanes[lane]);
            }
        }
        for (; i < logits.Length; i++)
        {
            max = Math.Max(max, logits[i]);
        }
        return max;
    }

    /// <summary>
    /// Writes exp((logits[i] - <paramref name="max"/>) · <paramref name="inverseTemperature"/>) to
    /// <paramref name="weights"/>[i] for every i and returns their sum, added in id order. The difference is taken in
    /// single precision, as the logits are, and the product in double. Eight at a time where the machine has 512-bit
    /// vectors, else four: the same operations on each lane, so the same bits either way. Never inlined: inside a larger
    /// caller the JIT kept the running sum in memory, which made the sum several times slower.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static double Fill(ReadOnlySpan<float> logits, float max, double inverseTemperature, Span<double> weights)
    {
        var n = logits.Length;
        var i = Vector512.IsHardwareAccelerated ? Fill8(logits, max, inverseTemperature, weights) : 0;
        var maxes = Vector128.Create(max);
        var inverse = Vector256.Create(inverseTemperature);
        // Sixteen at a time: four independent polynomial chains keep the core busy while each waits on its last step.
        for (; i <= n - 16; i += 16)
        {
            Exp(Scaled(logits.Slice(i, 4), maxes, inverse)).CopyTo(weights.Slice(i, 4));
            Exp(Scaled(logits.Slice(i + 4, 4), maxes, inverse)).CopyTo(weights.Slice(i + 4, 4));
            Exp(Scaled(logits.Slice(i + 8, 4), maxes, inverse)).CopyTo(weights.Slice(i + 8, 4));
            Exp(Scaled(logits.Slice(i + 12, 4), maxes, inverse)).CopyTo(weights.Slice(i + 12, 4));
        }
        for (; i <= n - 4; i += 4)
        {
            Exp(Scaled(logits.Slice(i, 4), maxes, inverse)).CopyTo(weights.Slice(i, 4));
        }
        if (i < n)
        {
            // The last one to three: the same arithmetic, lanes past the end at -∞ (weight 0).
            Span<float> tail = [float.NegativeInfinity, float.NegativeInfinity, float.NegativeInfinity, float.NegativeInfinity];
            logits[i..].CopyTo(tail);
            var w = Exp(Scaled(tail, maxes, inverse));
            for (var lane = 0; i < n; i++, lane++)
            {
                weights[i] = w.GetElement(lane);
            }
        }
        // Summed apart from the exponentials: one add after another in id order, which the vector work above need not wait for.
        double sum = 0;
        foreach (var w in weights[..n])
        {
            sum += w;
        }
        return sum;
    }

    /// <summary>The weights of the leading multiple of sixteen ids, eight lanes at a time; returns how many it wrote.</summary>
    private static int Fill8(ReadOnlySpan<float> logits, float max, double inverseTemperature, Span<double> weights)
    {
        var maxes = Vector256.Create(max);
        var inverse = Vector512.Create(inverseTemperature);
        var i = 0;
        for (; i <= logits.Length - 16; i += 16)
        {
            var (a0, a1) = Vector256.Widen(Vector256.Create(logits.Slice(i, 8)) - maxes);
            var (b0, b1) = Vector256.Widen(Vector256.Create(logits.Slice(i + 8, 8)) - maxes);
            Exp(Vector512.Create(a0, a1) * inverse).CopyTo(weights.Slice(i, 8));
            Exp(Vector512.Create(b0, b1) * inverse).CopyTo(weights.Slice(i + 8, 8));
        }
        return i;
    }

    /// <summary>(logits - max) in single precision, widened, times the inverse temperature in double.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<double> Scaled(ReadOnlySpan<float> four, Vector128<float> maxes, Vector256<double> inverse)
    {
        var (low, high) = Vector128.Widen(Vector128.Create(four) - maxes);
        return Vector256.Create(low, high) * inverse;
    }

    /// <summary>e^x for x ≤ 0 (and NaN), as specified above; x above 0 is not used by the sampler.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<double> Exp(Vector256<double> x)
    {
        var clamped = Vector256.Max(x, Vector256.Create(Underflow));
        var shifted = clamped * Vector256.Create(InverseLn2) + Vector256.Create(RoundingShift);
        var k = shifted - Vector256.Create(RoundingShift);
        var r = clamped - k * Vector256.Create(Ln2High) - k * Vector256.Create(Ln2Low);

        // Taylor polynomial of e^r, Horner's rule from 1/13!.
        var p = Vector256.Create(1.0 / 6227020800.0);
        p = p * r + Vector256.Create(1.0 / 479001600.0);
        p = p * r + Vector256.Create(1.0 / 39916800.0);
        p = p * r + Vector256.Create(1.0 / 3628800.0);
        p = p * r + Vector256.Create(1.0 / 362880.0);
        p = p * r + Vector256.Create(1.0 / 40320.0);
        p = p * r + Vector256.Create(1.0 / 5040.0);
        p = p * r + Vector256.Create(1.0 / 720.0);
        p = p * r + Vector256.Create(1.0 / 120.0);
        p = p * r + Vector256.Create(1.0 / 24.0);
        p = p * r + Vector256.Create(1.0 / 6.0);
        p = p * r + Vector256.Create(0.5);
        p = p * r + Vector256.Create(1.0);
        p = p * r + Vector256.Create(1.0);

        // 2^k as 2^half · 2^(k - half), each a normal double for k down to -1077.
        var half = Vector256.Floor(k * Vector256.Create(0.5));
        var rest = k - half;
        var result = p * PowerOfTwo(half) * PowerOfTwo(rest);
        // Far below the range (and -∞), 0; NaN stays NaN.
        result = Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256.Create(Underflow)), Vector256<double>.Zero, result);
        return Vector256.ConditionalSelect(Vector256.Equals(x, x), result, x);
    }

    /// <summary>2^e for integral e in [-1022, 1023], built from its exponent bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<double> PowerOfTwo(Vector256<double> e)
    {
        var biased = (e + Vector256.Create(1023.0 + RoundingShift)).AsInt64() - Vector256.Create(RoundingShift).AsInt64();
        return Vector256.ShiftLeft(biased, 52).AsDouble();
    }

    /// <summary>The same exponential, eight lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<double> Exp(Vector512<double> x)
    {
        var clamped = Vector512.Max(x, Vector512.Create(Underflow));
        var shifted = clamped * Vector512.Create(InverseLn2) + Vector512.Create(RoundingShift);
        var k = shifted - Vector512.Create(RoundingShift);
        var r = clamped - k * Vector512.Create(Ln2High) - k * Vector512.Create(Ln2Low);

        // Taylor polynomial of e^r, Horner's rule from 1/13!.
        var p = Vector512.Create(1.0 / 6227020800.0);
        p = p * r + Vector512.Create(1.0 / 479001600.0);
        p = p * r + Vector512.Create(1.0 / 39916800.0);
        p = p * r + Vector512.Create(1.0 / 3628800.0);
        p = p * r + Vector512.Create(1.0 / 362880.0);
        p = p * r + Vector512.Create(1.0 / 40320.0);
        p = p * r + Vector512.Create(1.0 / 5040.0);
        p = p * r + Vector512.Create(1.0 / 720.0);
        p = p * r + Vector512.Create(1.0 / 120.0);
        p = p * r + Vector512.Create(1.0 / 24.0);
        p = p * r + Vector512.Create(1.0 / 6.0);
        p = p * r + Vector512.Create(0.5);
        p = p * r + Vector512.Create(1.0);
        p = p * r + Vector512.Create(1.0);

        // 2^k as 2^half · 2^(k - half), each a normal double for k down to -1077.
        var half = Vector512.Floor(k * Vector512.Create(0.5));
        var rest = k - half;
        var result = p * PowerOfTwo(half) * PowerOfTwo(rest);
        // Far below the range (and -∞), 0; NaN stays NaN.
        result = Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512.Create(Underflow)), Vector512<double>.Zero, result);
        return Vector512.ConditionalSelect(Vector512.Equals(x, x), result, x);
    }

    /// <summary>The same power of two, eight lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<double> PowerOfTwo(Vector512<double> e)
    {
        var biased = (e + Vector512.Create(1023.0 + RoundingShift)).AsInt64() - Vector512.Create(RoundingShift).AsInt64();
        return Vector512.ShiftLeft(biased, 52).AsDouble();
    }
}
