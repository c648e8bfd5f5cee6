using System.Globalization;
using Microsoft.Extensions.Options;

namespace Aurous.InferenceWorker.Jobs.Moderation;

/// <summary>Why a prompt was refused: the category's reason code and its message.</summary>
public sealed record ModerationVerdict(string Code, string Message);

/// <summary>
/// The moderation stage a job passes before it generates: the configured categories (<see cref="ModerationOptions"/>)
/// evaluated over the prompt's normalised words (<see cref="PromptNormalizer"/>). The first category with a matching
/// rule rejects the job with its reason code.
/// </summary>
public sealed class ModerationPolicy
{
    private readonly bool _enabled;
    private readonly List<(ModerationCategory Category, List<Term[][]> Rules)> _categories;

    public ModerationPolicy(IOptions<ModerationOptions> options)
    {
        var o = options.Value;
        _enabled = o.Enabled;
        _categories = [.. o.Categories.Select(c => (c, c.Rules.Select(r => r.AllOf.Select(g => g.Select(Term.Parse).ToArray()).ToArray()).ToList()))];
    }

    /// <returns>null when the prompt may be generated.</returns>
    public ModerationVerdict? Evaluate(string prompt)
    {
        if (!_enabled)
        {
            return null;
        }
        var words = PromptNormalizer.Words(prompt);
        foreach (var (category, rules) in _categories)
        {
            if (rules.Any(groups => groups.Length > 0 && groups.All(terms => terms.Any(t => t.OccursIn(words)))))
            {
                return new ModerationVerdict(category.Code, category.Message);
            }
        }
        return null;
    }

    /// <summary>Checks a policy when the worker starts: every category has a code, a message and usable rules.</summary>
    public static IEnumerable<string> Problems(ModerationOptions options)
    {
        foreach (var category in options.Categories)
        {
            if (string.IsNullOrWhiteSpace(category.Code) || string.IsNullOrWhiteSpace(category.Message))
            {
                yield return "every category needs a Code and a Message";
            }
            if (category.Rules.Count == 0 || category.Rules.Any(r => r.AllOf.Count == 0 || r.AllOf.Any(g => g.Count == 0)))
            {
                yield return $"category '{category.Code}' needs rules whose groups each list at least one term";
            }
            foreach (var term in category.Rules.SelectMany(r => r.AllOf).SelectMany(g => g))
            {
                if (Term.Problem(term) is { } problem)
                {
                    yield return $"category '{category.Code}': {problem}";
                }
            }
        }
    }

    /// <summary>A phrase of one or more words, each literal, a prefix (<c>child*</c>) or a number range (<c>#0..17</c>).</summary>
    private sealed class Term
    {
        private readonly Word[] _words;

        private Term(Word[] words) => _words = words;

        public static Term Parse(string text) => new([.. PhraseWords(text).Select(Word.Parse)]);

        public static string? Problem(string text)
        {
            var words = PhraseWords(text);
            if (words.Length == 0)
            {
                return $"term '{text}' has no words";
            }
            foreach (var w in words.Where(w => w.StartsWith('#')))
            {
                if (!Word.TryParseRange(w, out _, out _))
                {
                    return $"term '{text}': '{w}' is not a number range like #0..17";
                }
            }
            return null;
        }

        private static string[] PhraseWords(string text) =>
            text.ToLowerInvariant().Split([' ', '-', '_'], StringSplitOptions.RemoveEmptyEntries);

        public bool OccursIn(IReadOnlyList<string> words)
        {
            for (var start = 0; start + _words.Length <= words.Count; start++)
            {
                var all = true;
                for (var i = 0; i < _words.Length && all; i++)
                {
                    all = _words[i].Matches(words[start + i]);
                }
                if (all)
                {
                    return true;
                }
            }
            return false;
        }
    }

    private sealed record Word(string Text, bool Prefix, int Min, int Max, bool IsRange)
    {
        public static Word Parse(string text) =>
            TryParseRange(text, out var min, out var max) ? new Word(text, false, min, max, true)
            : text.EndsWith('*') ? new Word(text.TrimEnd('*'), true, 0, 0, false)
            : new Word(text, false, 0, 0, false);

        public static bool TryParseRange(string text, out int min, out int max)
        {
            min = max = 0;
            var parts = text.StartsWith('#') ? text[1..].Split("..") : [];
            return parts.Length == 2
                && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out min)
                && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out max)
                && min <= max;
        }

        public bool Matches(string word) =>
            IsRange ? int.TryParse(word, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= Min && n <= Max
            : Prefix ? word.StartsWith(Text, StringComparison.Ordinal)
            : word == Text;
    }
}
