namespace Aurous.ModelForge;

/// <summary>
/// SplitMix64: a tiny, fully specified PRNG. System.Random's seeded sequence is an implementation detail of the runtime;
/// this one is ours, so generated weights stay byte-identical across runtimes and machines.
/// </summary>
public sealed class DeterministicRandom(ulong seed)
{
    private ulong _state = seed;

    public ulong NextUInt64()
    {
        var z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [-scale, scale), from the top 24 bits (exactly representable as float).</summary>
    public float NextSymmetric(float scale) => ((NextUInt64() >> 40) * (1.0f / (1 << 24)) * 2f - 1f) * scale;

    public float[] Fill(int count, float scale)
    {
        var values = new float[count];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = NextSymmetric(scale);
        }
        return values;
    }
}
