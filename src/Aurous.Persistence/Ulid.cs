using System.Security.Cryptography;

namespace Aurous.Persistence;

/// <summary>
/// A ULID (48-bit millisecond timestamp + 80 random bits, Crockford base32, 26 chars), sortable by creation time.
/// Stands in for a ULID package, none of which is in the registry here. Used for every public id (req_, team_, key_, hold_…).
/// </summary>
public static class Ulid
{
    private const string Alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    private const int RandomBytes = 10;
    private const int IdsPerDraw = 25;

    // Random bytes are drawn from the system's cryptographic generator IdsPerDraw ids at a time, per thread: one call
    // per id cost about 2.7 us, several times per request. Each byte is used once, so ids are as unpredictable as before.
    [ThreadStatic]
    private static byte[]? t_random;
    [ThreadStatic]
    private static int t_used;

    public static string NewUlid() => Create(DateTimeOffset.UtcNow);

    /// <summary>A prefixed id such as <c>req_01JD3…</c>.</summary>
    public static string NewId(string prefix) => string.Concat(prefix, "_", NewUlid());

    public static string Create(DateTimeOffset time)
    {
        var random = t_random;
        if (random is null || t_used == random.Length)
        {
            random = t_random ??= new byte[RandomBytes * IdsPerDraw];
            RandomNumberGenerator.Fill(random);
            t_used = 0;
        }
        var bits = UInt128.Zero;
        foreach (var b in random.AsSpan(t_used, RandomBytes))
        {
            bits = (bits << 8) | b;
        }
        t_used += RandomBytes;
        var ms = (ulong)time.ToUnixTimeMilliseconds();
        return string.Create(26, (ms, bits), static (chars, s) =>
        {
            // 10 chars of timestamp (50 bits, top 2 always zero) then 16 chars of randomness (80 bits).
            for (var i = 9; i >= 0; i--)
            {
                chars[i] = Alphabet[(int)(s.ms & 31)];
                s.ms >>= 5;
            }
            for (var i = 25; i >= 10; i--)
            {
                chars[i] = Alphabet[(int)(s.bits & 31)];
                s.bits >>= 5;
            }
        });
    }

    public static bool IsValid(ReadOnlySpan<char> value) =>
        value.Length == 26 && value[0] <= '7' && !value.ContainsAnyExcept(Alphabet);
}
