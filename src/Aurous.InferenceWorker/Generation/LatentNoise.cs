namespace Aurous.InferenceWorker.Generation;

/// <summary>
/// The starting noise of a generation, a pure function of the seed: standard normal values from SplitMix64 (a fully
/// specified generator, unlike System.Random's seeded sequence) through the Box-Muller transform, so the same seed
/// gives the same latent on every runtime and machine.
/// </summary>
public static class LatentNoise
{
    public static float[] Gaussian(long seed, int count)
    {
        var values = new float[count];
        var state = unchecked((ulong)seed);
        for (var i = 0; i < count; i += 2)
        {
            // (0, 1] so that the logarithm is finite.
            var u1 = ((Next(ref state) >> 11) + 1) * (1.0 / (1UL << 53));
            var u2 = (Next(ref state) >> 11) * (1.0 / (1UL << 53));
            var radius = Math.Sqrt(-2.0 * Math.Log(u1));
            values[i] = (float)(radius * Math.Cos(2 * Math.PI * u2));
            if (i + 1 < count)
            {
                values[i + 1] = (float)(radius * Math.Sin(2 * Math.PI * u2));
            }
        }
        return values;
    }

    /// <summary>
    /// A point on the great circle through two noises: <c>cos(angle) a + sin(angle) b</c>. Two independent standard
    /// normal vectors are (nearly) orthogonal, so every point keeps unit variance, and a slowly changing angle walks
    /// smoothly from one latent to the other (the frames of a video).
    /// </summary>
    public static float[] Circle(ReadOnlySpan<float> a, ReadOnlySpan<float> b, double angle)
    {
        var (sin, cos) = Math.SinCos(angle);
        var result = new float[a.Length];
        for (var i = 0; i < result.Length; i++)
        {
            result[i] = (float)(cos * a[i] + sin * b[i]);
        }
        return result;
    }

    private static ulong Next(ref ulong state)
    {
        var z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
