using System.Text;
using Aurous.Tokenizers;

namespace Aurous.InferenceWorker.Chat;

/// <summary>
/// Turns generated ids into text deltas that are safe to stream:
/// <list type="bullet">
/// <item>never half a UTF-8 character: ids are decoded in a pending group until their bytes end on a character
/// boundary (the group's decode does not end in U+FFFD); a group longer than 8 tokens is let through as is (genuinely
/// invalid bytes, which a full decode would turn into U+FFFD too);</item>
/// <item>never text past a stop string, nor the stop string itself: text that could still become the start of a stop
/// string is held back until it is known either way.</item>
/// </list>
/// The concatenated deltas equal the tokenizer's decode of the emitted ids, cut before the first stop string.
/// </summary>
public sealed class StreamingDetokenizer(BpeTokenizer tokenizer, IReadOnlyList<string> stops)
{
    private const int MaxPendingTokens = 8;
    private readonly List<int> _pending = [];
    private readonly StringBuilder _held = new();

    /// <summary>True once a stop string was seen; no more text comes after it.</summary>
    public bool Stopped { get; private set; }

    /// <summary>Adds one text-producing token; returns the text now safe to emit (possibly empty).</summary>
    public string Add(int id)
    {
        if (Stopped)
        {
            return "";
        }
        _pending.Add(id);
        var text = tokenizer.Decode(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_pending));
        if (text.EndsWith('\uFFFD') && _pending.Count < MaxPendingTokens)
        {
            return "";
        }
        _pending.Clear();
        _held.Append(text);
        return Release();
    }

    /// <summary>At the end of the generation (length or end of sequence): everything still held back.</summary>
    public string Flush()
    {
        if (Stopped)
        {
            return "";
        }
        if (_pending.Count > 0)
        {
            _held.Append(tokenizer.Decode(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_pending)));
            _pending.Clear();
        }
        var text = Release();
        if (Stopped)
        {
            return text;
        }
        var rest = _held.ToString();
        _held.Clear();
        return text + rest;
    }

    private string Release()
    {
        if (stops.Count == 0)
        {
            var all = _held.ToString();
            _held.Clear();
            return all;
        }
        var held = _held.ToString();
        var first = -1;
        foreach (var stop in stops)
        {
            var at = held.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (first < 0 || at < first))
            {
                first = at;
            }
        }
        if (first >= 0)
        {
            Stopped = true;
            _held.Clear();
            return held[..first];
        }
        // Keep the longest suffix that is a proper prefix of some stop string.
        var keep = 0;
        foreach (var stop in stops)
        {
            for (var k = Math.Min(stop.Length - 1, held.Length); k > keep; k--)
            {
                if (held.AsSpan(held.Length - k).SequenceEqual(stop.AsSpan(0, k)))
                {
                    keep = k;
                    break;
                }
            }
        }
        _held.Clear();
        _held.Append(held, held.Length - keep, keep);
        return held[..^keep];
    }
}
