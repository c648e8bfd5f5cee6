namespace Aurous.InferenceWorker.Chat;

/// <summary>
/// A grammar the output must follow, judged one character at a time: structured output
/// (<see cref="JsonPrefixAutomaton"/>) or tool calls (<see cref="ToolCallConstraint"/>).
/// </summary>
public interface IOutputConstraint
{
    /// <summary>Whether appending <paramref name="text"/> keeps the output a valid prefix (the state is not changed).</summary>
    bool Accepts(string text);

    /// <summary>Appends <paramref name="text"/>; false (state unspecified) when it does not continue a valid prefix.</summary>
    bool TryFeed(string text);

    /// <summary>The output is whole and nothing more may follow: generation ends.</summary>
    bool IsComplete { get; }

    /// <summary>The output may end here (an end-of-sequence token is allowed), though more could follow.</summary>
    bool MayEnd { get; }

    /// <summary>The grammar no longer restricts anything (free text from here on): the engine may stop filtering.</summary>
    bool IsFree { get; }
}

/// <summary>
/// Which token ids may come next under an <see cref="IOutputConstraint"/>: those whose text (decoded once per model,
/// see <see cref="ChatModel.ConstrainedTexts"/>) keeps the output a valid prefix, plus the end-of-sequence ids while
/// the constraint says the output may end. Other special tokens, tokens with no text and tokens that decode to partial
/// UTF-8 are never allowed.
/// </summary>
public sealed class ConstrainedTokenFilter(IOutputConstraint constraint, string?[] texts, IReadOnlyList<int> endOfSequenceIds)
{
    private bool[]? _mask;
    private readonly sbyte[] _firstChar = new sbyte[char.MaxValue + 1];

    public IOutputConstraint Constraint => constraint;

    public bool IsEndOfSequence(int id)
    {
        for (var i = 0; i < endOfSequenceIds.Count; i++)
        {
            if (endOfSequenceIds[i] == id)
            {
                return true;
            }
        }
        return false;
    }

    public bool IsAllowed(int id) =>
        (uint)id < (uint)texts.Length && (texts[id] is { } text ? constraint.Accepts(text) : constraint.MayEnd && IsEndOfSequence(id));

    /// <summary>The allowed ids among the first <paramref name="n"/> (a buffer reused until the next call).</summary>
    public bool[] Mask(int n)
    {
        var mask = _mask is { Length: var length } && length >= n ? _mask : _mask = new bool[n];
        Array.Clear(_firstChar);
        for (var id = 0; id < n; id++)
        {
            if (id >= texts.Length || texts[id] is not { } text)
            {
                mask[id] = false;
                continue;
            }
            // Most tokens fail on their first character; judge that once per distinct first character.
            ref var verdict = ref _firstChar[text[0]];
            if (verdict == 0)
            {
                verdict = constraint.Accepts(text[0].ToString()) ? (sbyte)1 : (sbyte)-1;
            }
            mask[id] = verdict > 0 && (text.Length == 1 || constraint.Accepts(text));
        }
        if (constraint.MayEnd)
        {
            foreach (var eos in endOfSequenceIds)
            {
                if ((uint)eos < (uint)n)
                {
                    mask[eos] = true;
                }
            }
        }
        return mask;
    }

    /// <summary>Appends the chosen token's text (an end-of-sequence token appends nothing).</summary>
    public void Advance(int id)
    {
        if (texts[id] is { } text ? !constraint.TryFeed(text) : !(constraint.MayEnd && IsEndOfSequence(id)))
        {
            throw new InvalidOperationException($"token {id} does not continue the constrained output");
        }
    }
}
