namespace Aurous.Tokenizers;

/// <summary>
/// GPT-2's reversible byte-to-character table ("bytes_to_unicode"): printable Latin-1 bytes map to themselves, the other
/// 68 bytes to U+0100.. in byte order, so every byte sequence becomes a string of visible characters and back.
/// </summary>
internal static class ByteLevel
{
    /// <summary>byte -> character used in the vocabulary.</summary>
    public static readonly char[] ByteToChar = CreateTable();

    /// <summary>character -> byte, or -1 for characters that are not byte-level symbols.</summary>
    public static readonly short[] CharToByte = CreateReverse(ByteToChar);

    private static char[] CreateTable()
    {
        var table = new char[256];
        var next = 256;
        for (var b = 0; b < 256; b++)
        {
            var printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            table[b] = printable ? (char)b : (char)next++;
        }
        return table;
    }

    private static short[] CreateReverse(char[] table)
    {
        var reverse = new short[table.Max() + 1];
        Array.Fill(reverse, (short)-1);
        for (var b = 0; b < table.Length; b++)
        {
            reverse[table[b]] = (short)b;
        }
        return reverse;
    }
}
