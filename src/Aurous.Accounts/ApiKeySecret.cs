using System.Security.Cryptography;
using System.Text;

namespace Aurous.Accounts;

/// <summary>The plaintext form of an API key (<c>al_live_</c> + 64 lowercase hex) and the hash we store instead of it.</summary>
public static class ApiKeySecret
{
    public const string Prefix = "al_live_";
    public const int Length = 8 + 64;

    public static string Generate() => Prefix + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));

    public static bool IsWellFormed(ReadOnlySpan<char> key) =>
        key.Length == Length && key.StartsWith(Prefix, StringComparison.Ordinal) && !key[Prefix.Length..].ContainsAnyExcept("0123456789abcdef");

    /// <summary>SHA-256 of the key text. Keys carry 256 bits of entropy, so a fast hash is the right tool (no salt or KDF needed).</summary>
    public static byte[] Hash(ReadOnlySpan<char> key)
    {
        Span<byte> utf8 = stackalloc byte[Length];
        var n = Encoding.ASCII.GetBytes(key, utf8);
        return SHA256.HashData(utf8[..n]);
    }

    /// <summary>What the dashboard shows for a key: its prefix, first and last four characters.</summary>
    public static string Hint(string key) => $"{key[..12]}…{key[^4..]}";
}
