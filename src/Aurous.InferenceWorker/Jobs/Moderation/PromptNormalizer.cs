using System.Globalization;
using System.Text;

namespace Aurous.InferenceWorker.Jobs.Moderation;

/// <summary>
/// Turns a prompt into the words the policy compares against, so that spelling tricks do not slip past it: Unicode
/// compatibility forms (NFKC) and look-alike letters folded to ASCII (full-width letters, ligatures, accents, homoglyphs
/// of other scripts), invisible characters removed, lower case;
/// separators between letters ("n.u.d.e", "n u d e") joined; digits and symbols standing for letters inside a word
/// ("s3x", "l0li", "$ex") read as those letters; letters repeated three or more times ("sexxxy") read once; and a
/// number glued to a word ("12yo") split from it.
/// </summary>
public static class PromptNormalizer
{
    private static readonly Dictionary<char, char> LookAlikes = new()
    {
        ['0'] = 'o', ['1'] = 'i', ['3'] = 'e', ['4'] = 'a', ['5'] = 's', ['7'] = 't', ['8'] = 'b',
        ['@'] = 'a', ['$'] = 's', ['!'] = 'i', ['|'] = 'l', ['+'] = 't', ['€'] = 'e',
    };

    private static readonly char[] LookAlikeSymbols = [.. LookAlikes.Keys.Where(c => !char.IsLetterOrDigit(c))];

    public static IReadOnlyList<string> Words(string text)
    {
        var folded = Fold(text);
        var raw = new List<string>();
        var current = new StringBuilder();
        foreach (var c in folded)
        {
            if (char.IsLetterOrDigit(c) || LookAlikes.ContainsKey(c))
            {
                current.Append(c);
            }
            else if (current.Length > 0)
            {
                raw.Add(current.ToString());
                current.Clear();
            }
        }
        if (current.Length > 0)
        {
            raw.Add(current.ToString());
        }

        var words = new List<string>();
        foreach (var token in raw)
        {
            words.AddRange(ReadToken(token).Where(w => w.Length > 0));
        }
        return JoinSpelledOut(words);
    }

    /// <summary>
    /// Invisible (format) characters removed, Unicode compatibility forms folded (NFKC, where the runtime has Unicode
    /// data), then every letter transliterated to ASCII by AnyAscii: full-width and mathematical letters, ligatures,
    /// accents and look-alike letters of other scripts (Cyrillic "а") become the Latin letters they show; lower case.
    /// </summary>
    private static string Fold(string text)
    {
        var visible = new StringBuilder(text.Length);
        foreach (var rune in text.EnumerateRunes())
        {
            if (Rune.GetUnicodeCategory(rune) is not UnicodeCategory.Format)
            {
                visible.Append(rune.ToString());
            }
        }
        var compatible = visible.ToString().Normalize(NormalizationForm.FormKC);
        return AnyAscii.Transliteration.Transliterate(compatible).ToLowerInvariant();
    }

    private static IEnumerable<string> ReadToken(string token)
    {
        token = token.TrimEnd(LookAlikeSymbols); // "wow!" ends a sentence; "$ex" and "s3x" stand for letters
        var firstLetter = -1;
        for (var i = 0; i < token.Length; i++)
        {
            if (char.IsLetter(token[i]))
            {
                firstLetter = i;
                break;
            }
        }
        if (firstLetter < 0)
        {
            // A number (or symbols alone): digits stay digits.
            var digits = new string(token.Where(char.IsDigit).ToArray());
            if (digits.Length > 0)
            {
                yield return digits;
            }
            yield break;
        }
        if (firstLetter > 0 && token[..firstLetter].All(char.IsDigit) && token[firstLetter..].All(char.IsLetter))
        {
            // "12yo", "3girls": a count or an age before a word.
            yield return token[..firstLetter];
            yield return CollapseRepeats(token[firstLetter..]);
            yield break;
        }
        var read = new StringBuilder(token.Length);
        foreach (var c in token)
        {
            read.Append(char.IsLetter(c) ? c : LookAlikes.TryGetValue(c, out var letter) ? letter : c);
        }
        yield return CollapseRepeats(new string(read.ToString().Where(char.IsLetter).ToArray()));
    }

    private static string CollapseRepeats(string word)
    {
        var result = new StringBuilder(word.Length);
        for (var i = 0; i < word.Length; i++)
        {
            var run = 1;
            while (i + run < word.Length && word[i + run] == word[i])
            {
                run++;
            }
            result.Append(word[i], run >= 3 ? 1 : run);
            i += run - 1;
        }
        return result.ToString();
    }

    /// <summary>Three or more single letters in a row are one word spelled out.</summary>
    private static List<string> JoinSpelledOut(List<string> words)
    {
        var result = new List<string>(words.Count);
        for (var i = 0; i < words.Count; i++)
        {
            var end = i;
            while (end < words.Count && words[end].Length == 1 && char.IsLetter(words[end][0]))
            {
                end++;
            }
            if (end - i >= 3)
            {
                result.Add(string.Concat(words.Skip(i).Take(end - i)));
                i = end - 1;
            }
            else
            {
                result.Add(words[i]);
            }
        }
        return result;
    }
}
