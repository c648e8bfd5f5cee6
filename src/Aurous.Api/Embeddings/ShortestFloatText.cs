using System.Globalization;
using System.Numerics;

namespace Aurous.Api.Embeddings;

/// <summary>
/// Writes a float as UTF-8 text byte for byte as <c>float.TryFormat(destination, out written, default,
/// CultureInfo.InvariantCulture)</c> does (the shortest text that reads back as the same float, "G" layout), in
/// about half the time for the values an embedding holds. It stands in for the runtime's own shortest-digits search
/// (Grisu3, then Dragon4) on the common case only: normal floats from about 1e-17 to 4e6 whose shortest digits are
/// unambiguous, found with exact integer arithmetic. Everything else (zero, subnormals, larger values, a candidate
/// that lies exactly on a rounding boundary, or two candidates equally close) is handed to the runtime's formatter,
/// so the bytes never differ.
/// </summary>
public static class ShortestFloatText
{
    /// <summary>The longest text either path writes ("-1.1754944E-38").</summary>
    public const int MaxLength = 15;

    // The scaled value v * 10^p is kept between about 1e9 and 2e10: every float has at least 40 integers inside its
    // rounding interval there, so the shortest digits are always reachable, and all of it fits in 64 bits.
    private const int ScaledDigits = 9;

    // 5^p for the powers of ten the fast path multiplies by: 5^27 is the largest that fits in 64 bits.
    private static readonly ulong[] PowersOf5 = PowerTable(5, 28);
    private static readonly ulong[] PowersOf10 = PowerTable(10, 20);

    // "00" to "99": two digits per division when writing.
    private static readonly byte[] DigitPairs = [.. Enumerable.Range(0, 100).SelectMany(n => new[] { (byte)('0' + n / 10), (byte)('0' + n % 10) })];

    /// <summary>Writes <paramref name="value"/>; false only when <paramref name="destination"/> is too short.</summary>
    public static bool TryFormat(float value, Span<byte> destination, out int written)
    {
        if (destination.Length >= MaxLength && TryShortest(value, out var digits, out var scale))
        {
            written = Write(value < 0, digits, scale, destination);
            return true;
        }
        return value.TryFormat(destination, out written, default, CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// The shortest digits that read back as <paramref name="value"/> (closest to it among the shortest) and their
    /// scale (value = 0.digits * 10^scale), or false where the runtime's formatter must decide.
    /// </summary>
    internal static bool TryShortest(float value, out ulong digits, out int scale)
    {
        digits = 0;
        scale = 0;
        var bits = BitConverter.SingleToUInt32Bits(value);
        var biased = (int)((bits >> 23) & 0xFF);
        if (biased is 0 or 0xFF)
        {
            return false; // zero, subnormal, infinity, NaN
        }
        var fraction = bits & 0x7FFFFF;
        var m2 = (ulong)(fraction | 0x800000);
        var e2 = biased - 150; // value = m2 * 2^e2

        // A lower bound on the decimal exponent of the leading digit (78913 / 2^18 is just under log10(2)).
        var leading = ((e2 + 23) * 78913) >> 18;
        var p = ScaledDigits - leading;
        // The rounding interval's ends are (4*m2 +- 2) * 2^(e2-2); the lower one is closer at a power of two.
        var shift = -(p + e2 - 2);
        if (p < 0 || p >= PowersOf5.Length || shift <= 0 || shift >= 64)
        {
            return false; // large values (whose interval ends are integers here) and tiny ones
        }

        // v * 10^p = (4*m2) * 5^p * 2^(p + e2 - 2): exact in 128 bits (high:low), then split at the binary point.
        var pow5 = PowersOf5[p];
        var valueHigh = Math.BigMul(m2 << 2, pow5, out var valueLow);
        var (upperHigh, upperLow) = Add(valueHigh, valueLow, pow5 << 1);
        var (lowerHigh, lowerLow) = Subtract(valueHigh, valueLow, fraction == 0 && biased > 1 ? pow5 : pow5 << 1);
        var mask = (1UL << shift) - 1;
        if ((upperLow & mask) == 0 || (lowerLow & mask) == 0)
        {
            return false; // an end of the interval is itself a candidate: whether it counts is the runtime's call
        }
        var upper = Whole(upperHigh, upperLow, shift); // candidates c satisfy lower < c <= upper
        var lower = Whole(lowerHigh, lowerLow, shift);
        var whole = Whole(valueHigh, valueLow, shift);
        var rest = valueLow & mask; // the scaled value's fraction, in units of 2^-shift
        var half = 1UL << (shift - 1);

        // Drop digits while the interval still holds a multiple of the next power of ten, remembering the last digit
        // dropped from the value and whether all the ones before it were zero: together with the fraction they say
        // which neighbouring candidate is closer without dividing by the dropped power of ten.
        var removed = 0;
        var up = upper;
        var low = lower;
        var down = whole;
        var last = 0;
        var zerosBelowLast = true;
        while (up / 10 > low / 10)
        {
            zerosBelowLast &= last == 0;
            var next = down / 10;
            last = (int)(down - next * 10);
            down = next;
            up /= 10;
            low /= 10;
            removed++;
        }
        int closer; // > 0: the upper candidate; < 0: the lower one; 0: a tie
        if (removed == 0)
        {
            closer = rest.CompareTo(half);
        }
        else if (last != 5)
        {
            closer = last > 5 ? 1 : -1;
        }
        else
        {
            closer = !zerosBelowLast || rest != 0 ? 1 : 0;
        }
        if (closer == 0)
        {
            return false; // a tie: the runtime's rounding decides
        }
        var downFits = down > low;
        var upFits = down + 1 <= up;
        if (closer > 0 ? upFits : !downFits)
        {
            digits = down + 1;
        }
        else if (downFits)
        {
            digits = down;
        }
        else
        {
            return false;
        }
        scale = DigitCount(digits) + removed - p;
        return true;
    }

    /// <summary>The runtime's "G" layout for the shortest digits: plain up to 9 integer digits and down to 0.0001, else d.dddE+XX.</summary>
    private static int Write(bool negative, ulong digits, int scale, Span<byte> destination)
    {
        var count = DigitCount(digits);
        var at = 0;
        if (negative)
        {
            destination[at++] = (byte)'-';
        }
        // A float needs at most 9 digits to read back; shorter texts keep plain notation up to that many integer digits.
        if (scale > Math.Max(count, 9) || scale < -3)
        {
            WriteDigits(digits, destination.Slice(at, count));
            if (count > 1)
            {
                InsertPoint(destination, at + 1, count - 1);
                at++;
            }
            at += count;
            var exponent = scale - 1;
            destination[at++] = (byte)'E';
            destination[at++] = exponent < 0 ? (byte)'-' : (byte)'+';
            exponent = Math.Abs(exponent);
            destination[at++] = (byte)('0' + exponent / 10);
            destination[at++] = (byte)('0' + exponent % 10);
            return at;
        }
        if (scale > 0)
        {
            WriteDigits(digits, destination.Slice(at, count));
            if (count > scale)
            {
                InsertPoint(destination, at + scale, count - scale);
                return at + count + 1;
            }
            at += count;
            for (var i = count; i < scale; i++)
            {
                destination[at++] = (byte)'0';
            }
            return at;
        }
        destination[at++] = (byte)'0';
        destination[at++] = (byte)'.';
        for (var i = scale; i < 0; i++)
        {
            destination[at++] = (byte)'0';
        }
        WriteDigits(digits, destination.Slice(at, count));
        return at + count;
    }

    private static void WriteDigits(ulong value, Span<byte> into)
    {
        var i = into.Length;
        while (i > 1)
        {
            var pair = (int)(value % 100) * 2;
            value /= 100;
            into[--i] = DigitPairs[pair + 1];
            into[--i] = DigitPairs[pair];
        }
        if (i == 1)
        {
            into[0] = (byte)('0' + (int)value);
        }
    }

    /// <summary>Moves the <paramref name="tail"/> digits at <paramref name="at"/> one place right and puts the point before them.</summary>
    private static void InsertPoint(Span<byte> text, int at, int tail)
    {
        text.Slice(at, tail).CopyTo(text[(at + 1)..]);
        text[at] = (byte)'.';
    }

    private static (ulong High, ulong Low) Add(ulong high, ulong low, ulong addend)
    {
        var sum = low + addend;
        return (sum < low ? high + 1 : high, sum);
    }

    private static (ulong High, ulong Low) Subtract(ulong high, ulong low, ulong subtrahend) =>
        (low < subtrahend ? high - 1 : high, low - subtrahend);

    /// <summary>The integer part of high:low / 2^shift (0 &lt; shift &lt; 64; the result fits in 64 bits here).</summary>
    private static ulong Whole(ulong high, ulong low, int shift) => (high << (64 - shift)) | (low >> shift);

    private static int DigitCount(ulong value)
    {
        // log10 from log2 (1233 / 4096 is just over log10(2)), corrected by one comparison.
        var guess = ((BitOperations.Log2(value) + 1) * 1233) >> 12;
        return guess + (value >= PowersOf10[guess] ? 1 : 0);
    }

    private static ulong[] PowerTable(ulong radix, int length)
    {
        var table = new ulong[length];
        table[0] = 1;
        for (var i = 1; i < length; i++)
        {
            table[i] = table[i - 1] * radix;
        }
        return table;
    }
}
