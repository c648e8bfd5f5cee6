using System.Text;

namespace Aurous.Tokenizers;

/// <summary>
/// GPT-2's pre-tokenisation split, written as a single forward scan instead of a regex so it runs in linear time on any
/// input (no backtracking). It reproduces, code point by code point, the pattern Hugging Face's ByteLevel pre-tokenizer uses:
/// <code>'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+</code>
/// </summary>
internal static class Gpt2PreTokenizer
{
    private enum CharClass : byte
    {
        Letter,
        Number,
        Whitespace,
        Other,
    }

    private static readonly CharClass[] AsciiClasses = CreateAsciiClasses();

    /// <summary>Returns the end (exclusive) of the piece that starts at <paramref name="i"/> (which must be &lt; text.Length).</summary>
    public static int PieceEnd(ReadOnlySpan<char> text, int i)
    {
        var n = text.Length;
        var c = text[i];
        if (c == '\'' && TryContraction(text, i, out var contractionLength))
        {
            return i + contractionLength;
        }
        var cls = Classify(text, i, out var width);
        if (cls != CharClass.Whitespace)
        {
            return SkipRun(text, i + width, cls);
        }
        // A space directly before a letter/number/other run belongs to that run (" ?X+").
        if (c == ' ' && i + 1 < n && Classify(text, i + 1, out _) is var nextClass && nextClass != CharClass.Whitespace)
        {
            return SkipRun(text, i + 1, nextClass);
        }
        // \s+(?!\S) then \s+: a whitespace run followed by non-space leaves its last code point to the next piece (when
        // the run has more than one); at the end of the text it takes everything.
        var end = i;
        var last = i;
        var count = 0;
        while (end < n && Classify(text, end, out var w) == CharClass.Whitespace)
        {
            last = end;
            end += w;
            count++;
        }
        return end == n || count == 1 ? end : last;
    }

    private static bool TryContraction(ReadOnlySpan<char> text, int i, out int length)
    {
        length = 0;
        if (i + 1 >= text.Length)
        {
            return false;
        }
        var a = text[i + 1];
        if (a is 's' or 't' or 'm' or 'd')
        {
            length = 2;
            return true;
        }
        if (i + 2 < text.Length)
        {
            var b = text[i + 2];
            if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
            {
                length = 3;
                return true;
            }
        }
        return false;
    }

    private static int SkipRun(ReadOnlySpan<char> text, int i, CharClass cls)
    {
        while (i < text.Length && Classify(text, i, out var width) == cls)
        {
            i += width;
        }
        return i;
    }

    private static CharClass Classify(ReadOnlySpan<char> text, int i, out int width)
    {
        var c = text[i];
        if (c < 128)
        {
            width = 1;
            return AsciiClasses[c];
        }
        if (Rune.DecodeFromUtf16(text[i..], out var rune, out width) != System.Buffers.OperationStatus.Done)
        {
            width = 1; // a lone surrogate: not a letter, number or space
            return CharClass.Other;
        }
        return Classify(rune);
    }

    private static CharClass Classify(Rune rune)
    {
        if (Rune.IsLetter(rune))
        {
            return CharClass.Letter;
        }
        if (Rune.IsNumber(rune))
        {
            return CharClass.Number;
        }
        return Rune.IsWhiteSpace(rune) ? CharClass.Whitespace : CharClass.Other;
    }

    private static CharClass[] CreateAsciiClasses()
    {
        var table = new CharClass[128];
        for (var c = 0; c < 128; c++)
        {
            table[c] = Classify(new Rune(c));
        }
        return table;
    }
}
