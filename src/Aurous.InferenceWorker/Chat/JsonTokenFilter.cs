namespace Aurous.InferenceWorker.Chat;

/// <summary>
/// Which token ids may come next under a <c>response_format</c>: those whose text (decoded once per model, see
/// <see cref="ChatModel.ConstrainedTexts"/>) keeps the output a valid prefix for the <see cref="JsonPrefixAutomaton"/>.
/// Special tokens, tokens with no text and tokens that decode to partial UTF-8 are never allowed.
/// </summary>
public sealed class JsonTokenFilter(JsonPrefixAutomaton automaton, string?[] texts)
{
    private bool[]? _mask;
    private readonly sbyte[] _firstChar = new sbyte[char.MaxValue + 1];

    public JsonPrefixAutomaton Automaton => automaton;

    public bool IsAllowed(int id) => (uint)id < (uint)texts.Length && texts[id] is { } text && automaton.Accepts(text);

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
                verdict = automaton.Accepts(text[0].ToString()) ? (sbyte)1 : (sbyte)-1;
            }
            mask[id] = verdict > 0 && (text.Length == 1 || automaton.Accepts(text));
        }
        return mask;
    }

    /// <summary>Appends the chosen token's text.</summary>
    public void Advance(int id)
    {
        if (texts[id] is not { } text || !automaton.TryFeed(text))
        {
            throw new InvalidOperationException($"token {id} does not continue the structured output");
        }
    }
}
