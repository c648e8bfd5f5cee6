using System.Globalization;
using System.Text;
using System.Text.Json;
using Aurous.Api.Embeddings;
using Aurous.Api.Inference;
using Aurous.Api.Metering;
using Aurous.Inference.Contracts;

namespace Aurous.Api.Tests;

/// <summary>
/// The embedding's numbers are written by our own shortest-digits formatter: every float must come out byte for byte as
/// the runtime's <c>float.TryFormat(..., InvariantCulture)</c> writes it (the bytes clients received before).
/// </summary>
public sealed class ShortestFloatTextTests
{
    private static string Runtime(float value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Ours(float value)
    {
        Span<byte> text = stackalloc byte[ShortestFloatText.MaxLength];
        ShortestFloatText.TryFormat(value, text, out var written).ShouldBeTrue();
        return Encoding.ASCII.GetString(text[..written]);
    }

    private static void SameAsRuntime(uint bits)
    {
        var value = BitConverter.UInt32BitsToSingle(bits);
        if (float.IsFinite(value) && Ours(value) is var ours && ours != Runtime(value))
        {
            ours.ShouldBe(Runtime(value), $"bits 0x{bits:X8}");
        }
    }

    [Fact]
    public void Every_float_of_the_binade_where_embedding_values_live_is_written_as_the_runtime_writes_it()
    {
        // [1/32, 1/16) and its negative: 2 x 2^23 floats, every one of them.
        var first = BitConverter.SingleToUInt32Bits(1f / 32);
        for (var bits = first; bits < first + (1u << 23); bits++)
        {
            SameAsRuntime(bits);
            SameAsRuntime(bits | 0x8000_0000);
        }
    }

    [Fact]
    public void A_spread_of_all_bit_patterns_is_written_as_the_runtime_writes_it()
    {
        // Every 4,099th pattern (a prime stride, so every exponent and many mantissa shapes), both signs: about 2.1 million.
        for (var bits = 0L; bits <= uint.MaxValue; bits += 4099)
        {
            SameAsRuntime((uint)bits);
        }
        var random = new Random(13);
        for (var i = 0; i < 1_000_000; i++)
        {
            SameAsRuntime((uint)random.NextInt64(0, 1L << 32));
        }
    }

    private static IEnumerable<float> EdgeValues()
    {
        var values = new List<float>
        {
            0f, -0f, float.Epsilon, -float.Epsilon, float.MaxValue, float.MinValue, 1.17549435E-38f, 1.1754942E-38f,
            1f, -1f, 0.1f, 0.2f, 0.3f, 1f / 3, 2f / 3, 100f, 1e6f, 1e7f, 1e8f, 1e9f, 1e10f, 123456789f, 16777216f, 16777217f,
            33554432f, 4194304f, 4194303.8f, 8388607.5f, 0.0001f, 0.00001f, 0.000099999f, 0.00010000001f, 1e-17f, 9.99e-18f,
            1.0000001e-17f, 1e-16f, 9.999999e-5f, 999999.94f, 9999999f, 0.999999940f, 1.00000012f,
        };
        for (var e = -149; e <= 127; e++)
        {
            var power = MathF.Pow(2, e); // the lower end of each power of two's interval is closer
            values.AddRange([power, BitConverter.UInt32BitsToSingle(BitConverter.SingleToUInt32Bits(power) + 1), -power]);
            if (e > -149)
            {
                values.Add(BitConverter.UInt32BitsToSingle(BitConverter.SingleToUInt32Bits(power) - 1));
            }
        }
        for (var e = -45; e <= 38; e++)
        {
            var power = float.Parse($"1e{e}", CultureInfo.InvariantCulture);
            values.AddRange([power, -power, BitConverter.UInt32BitsToSingle(BitConverter.SingleToUInt32Bits(power) + 1),
                BitConverter.UInt32BitsToSingle(Math.Max(1, BitConverter.SingleToUInt32Bits(power)) - 1)]);
        }
        return values.Where(float.IsFinite).Distinct();
    }

    [Fact]
    public void Edge_values_are_written_as_the_runtime_writes_them()
    {
        // One test over every edge value (about 1,400), each failure naming its value.
        var differing = EdgeValues().Where(v => Ours(v) != Runtime(v))
            .Select(v => $"{BitConverter.SingleToUInt32Bits(v):X8}: ours {Ours(v)}, runtime {Runtime(v)}").ToList();
        differing.ShouldBeEmpty();
    }

    [Fact]
    public void Typical_embedding_values_take_the_exact_integer_path_and_not_the_runtime_fallback()
    {
        var random = new Random(5);
        var fast = 0;
        const int count = 100_000;
        for (var i = 0; i < count; i++)
        {
            var value = (float)(random.NextDouble() * 0.2 - 0.1);
            if (ShortestFloatText.TryShortest(value, out var digits, out var scale))
            {
                fast++;
                // The digits and scale are the runtime's own: the text minus sign, point and leading zeros.
                var text = Runtime(value).TrimStart('-');
                var significant = text.Replace(".", "").TrimStart('0');
                digits.ToString(CultureInfo.InvariantCulture).ShouldBe(significant.Contains('E') ? significant[..significant.IndexOf('E')] : significant);
                scale.ShouldBeLessThan(1);
            }
        }
        fast.ShouldBeGreaterThan(count * 99 / 100);
    }

    [Fact]
    public void A_too_short_destination_is_refused_as_the_runtime_refuses_it()
    {
        Span<byte> text = stackalloc byte[4];
        ShortestFloatText.TryFormat(-0.0123456f, text, out _).ShouldBeFalse();
        ShortestFloatText.TryFormat(0.5f, text, out var written).ShouldBeTrue();
        Encoding.ASCII.GetString(text[..written]).ShouldBe("0.5");
    }

    [Fact]
    public void The_rendered_embedding_is_the_runtimes_text_of_every_element_joined_by_commas()
    {
        var random = new Random(11);
        var vector = new float[2048];
        for (var i = 0; i < vector.Length; i++)
        {
            vector[i] = i % 64 == 0 ? (float)(random.NextDouble() * Math.Pow(10, random.Next(-40, 39))) : (float)(random.NextDouble() * 0.08 - 0.04);
        }
        vector[0] = -0f;
        vector[1] = float.Epsilon;
        vector[2] = float.MaxValue;
        var usage = new InternalEmbeddingUsage(2, 0, 0, 0, 0);
        var frame = new byte[InternalEmbeddingFrame.Length(vector.Length)];
        InternalEmbeddingFrame.Write(frame, vector, usage);
        var embedding = new WorkerEmbedding(usage, frame.AsMemory(InternalEmbeddingFrame.HeaderBytes));
        var block = UsageBlock.For("aurous-embed-vision", new TokenUsage(2, 0, 0), new Charge(0.5m, 0.5m, 0, 0));

        using var body = JsonDocument.Parse(EmbeddingResponseWriter.Render("aurous-embed-vision", embedding, block));

        body.RootElement.GetProperty("data")[0].GetProperty("embedding").GetRawText()
            .ShouldBe("[" + string.Join(",", vector.Select(Runtime)) + "]");
    }
}
