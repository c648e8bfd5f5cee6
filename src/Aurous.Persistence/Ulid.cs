using System.Security.Cryptography;

namespace Aurous.Persistence;

/// <summary>
/// A ULID (48-bit millisecond timestamp + 80 random bits, Crockford base32, 26 chars), sortable by creation time.
/// Stands in for a ULID package, none of which is in the registry here. Used for every public id (req_, team_, key_, hold_…).
/// </summary>
public static class Ulid
{
    private const string Alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

    public static string NewUlid() => Create(DateTimeOffset.UtcNow);

    /// <summary>A prefixed id such as <c>req_01JD3…</c>.</summary>
    public static string NewId(string prefix) => string.Concat(prefix, "_", NewUlid());

    public static string Create(DateTimeOffset time)
    {
        Span<byte> random = stackalloc byte[10];
        RandomNumberGenerator.Fill(random);
        var ms = (ulong)time.ToUnixTimeMilliseconds();
        return string.Create(26, (ms, r: random.ToArray()), static (chars, s) =>
        {
            // 10 chars of timestamp (50 bits, top 2 always zero) then 16 chars of randomness (80 bits).
            for (var i = 9; i >= 0; i--)
            {
                chars[i] = Alphabet[(int)(s.ms & 31)];
                s.ms >>= 5;
            }
            UInt128 bits = 0;
            foreach (var b in s.r)
            {
                bits = (bits << 8) | b;
            }
            for (var i = 25; i >= 10; i--)
            {
                chars[i] = Alphabet[(int)(bits & 31)];
                bits >>= 5;
            }
        });
    }

    public static bool IsValid(ReadOnlySpan<char> value) =>
        value.Length == 26 && value[0] <= '7' && !value.ContainsAnyExcept(Alphabet);
}
