namespace Aurous.InferenceWorker.Chat;

/// <summary>
/// A character-level pushdown automaton over a <see cref="SchemaNode"/> tree: fed the output one character at a time,
/// it says whether the text so far is a valid prefix of some document the schema allows (<see cref="TryFeed(char)"/>
/// fails at the first character that is not) and whether it is a complete document (<see cref="IsComplete"/>).
/// The language is compact JSON: no whitespace outside strings, properties in declaration order, numbers without
/// exponents and with at most <see cref="JsonSchemaCompiler.MaxNumberDigits"/> digits, strings of at most their
/// maxLength (default 64) characters. A failed feed leaves the state unspecified: test on a <see cref="Clone"/> or
/// with <see cref="Accepts"/>.
/// </summary>
public sealed class JsonPrefixAutomaton : IOutputConstraint
{
    private enum FrameKind : byte { ValueStart, Object, Array, String, Number, Literal }

    // Object phases
    private const byte ExpectKeyOrClose = 0, ExpectKey = 1, InKey = 2, ExpectColon = 3, InValue = 4, AfterValue = 5;
    // Array phases (InValue/AfterValue shared)
    private const byte ExpectItemOrClose = 0;
    // An object, array or string frame before its opening bracket or quote
    private const byte BeforeOpen = 255;
    // Number phases
    private const byte NumStart = 0, NumMinus = 1, NumZero = 2, NumInt = 3, NumDot = 4, NumFrac = 5;

    private struct Frame
    {
        public FrameKind Kind;
        public byte Phase;
        /// <summary>Object: last property index (schema) or member count (free). Array: item count. String: characters. Number: digits. Literal: position.</summary>
        public int Index;
        /// <summary>String: escape state (0 none, 1 after backslash, 2..5 hex digits left + 1). Literal: candidate bitmask.</summary>
        public ulong Mask;
        /// <summary>Object: while reading a free key, its character count and escape state packed (count | esc &lt;&lt; 16).</summary>
        public int Aux;
        public SchemaNode Node;
        public int Depth;
    }

    private Frame[] _stack;
    private int _depth;
    private bool _started;

    public JsonPrefixAutomaton(SchemaNode root)
    {
        _stack = new Frame[8];
        _stack[0] = new Frame { Kind = FrameKind.ValueStart, Node = root, Depth = 1 };
        _depth = 1;
    }

    private JsonPrefixAutomaton(Frame[] stack, int depth, bool started)
    {
        _stack = stack;
        _depth = depth;
        _started = started;
    }

    /// <summary>True when the text fed so far is a whole document: nothing more may follow.</summary>
    public bool IsComplete => _depth == 0;

    /// <summary>A document may only end when it is whole.</summary>
    public bool MayEnd => IsComplete;

    public bool IsFree => false;

    public JsonPrefixAutomaton Clone() => new((Frame[])_stack.Clone(), _depth, _started);

    /// <summary>Makes <paramref name="target"/> an exact copy of this state, reusing its buffers.</summary>
    public void CopyTo(JsonPrefixAutomaton target)
    {
        if (target._stack.Length < _stack.Length)
        {
            target._stack = new Frame[_stack.Length];
        }
        Array.Copy(_stack, target._stack, _depth);
        target._depth = _depth;
        target._started = _started;
    }

    /// <summary>Whether appending <paramref name="text"/> keeps the output a valid prefix (this state is not changed).</summary>
    public bool Accepts(string text) => Accepts(text, ref _scratch);

    private Frame[]? _scratch;

    private bool Accepts(string text, ref Frame[]? scratch)
    {
        if (text.Length == 0)
        {
            return false;
        }
        if (scratch is null || scratch.Length < _stack.Length)
        {
            scratch = new Frame[_stack.Length];
        }
        Array.Copy(_stack, scratch, _depth);
        var probe = new JsonPrefixAutomaton(scratch, _depth, _started);
        var ok = probe.TryFeed(text);
        scratch = probe._stack; // it may have grown
        return ok;
    }

    /// <summary>Feeds every character of <paramref name="text"/>; false at the first one that is not allowed.</summary>
    public bool TryFeed(string text)
    {
        foreach (var c in text)
        {
            if (!TryFeed(c))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>Feeds one character; false when it cannot continue a valid prefix.</summary>
    public bool TryFeed(char c)
    {
        _started = true;
        while (true)
        {
            if (_depth == 0)
            {
                return false;
            }
            ref var top = ref _stack[_depth - 1];
            switch (Step(ref top, c))
            {
                case StepResult.Accepted:
                    return true;
                case StepResult.Done:
                    Pop();
                    return true;
                case StepResult.Rejected:
                    return false;
                case StepResult.EndedBefore:
                    // The value (a number) ended just before c: close it and give c to its parent.
                    Pop();
                    continue;
                case StepResult.Retry:
                    continue;
            }
        }
    }

    private enum StepResult { Accepted, Done, Rejected, EndedBefore, Retry }

    private void Pop()
    {
        _depth--;
        if (_depth > 0)
        {
            ref var parent = ref _stack[_depth - 1];
            // Object and Array frames wait in InValue for their child; the key frame of a schema object is a literal.
            parent.Phase = parent.Phase == InKey ? ExpectColon : AfterValue;
            if (parent.Kind == FrameKind.Object && parent.Phase == ExpectColon && !parent.Node.Free)
            {
                parent.Index = System.Numerics.BitOperations.TrailingZeroCount(_stack[_depth].Mask);
            }
            else if (parent.Kind == FrameKind.Array || (parent.Kind == FrameKind.Object && parent.Node.Free && parent.Phase == AfterValue))
            {
                parent.Index++;
            }
        }
    }

    private void Push(Frame f)
    {
        if (_depth == _stack.Length)
        {
            Array.Resize(ref _stack, _stack.Length * 2);
        }
        _stack[_depth++] = f;
    }

    private StepResult Step(ref Frame f, char c)
    {
        switch (f.Kind)
        {
            case FrameKind.ValueStart:
                return Begin(ref f, c) ? StepResult.Retry : StepResult.Rejected;
            case FrameKind.String:
                return StringStep(ref f.Index, ref f.Mask, f.Node.MaxLength, c);
            case FrameKind.Number:
                return NumberStep(ref f, c);
            case FrameKind.Literal:
                return LiteralStep(ref f, c, f.Node.Literals);
            case FrameKind.Array:
                return f.Phase == BeforeOpen ? Open(ref f, c, '[', ExpectItemOrClose) : ArrayStep(ref f, c);
            case FrameKind.Object:
                return f.Phase == BeforeOpen ? Open(ref f, c, '{', ExpectKeyOrClose) : ObjectStep(ref f, c);
            default:
                return StepResult.Rejected;
        }
    }

    /// <summary>Turns a ValueStart frame into the frame for the value that <paramref name="c"/> starts (not yet consumed).</summary>
    private static bool Begin(ref Frame f, char c)
    {
        var node = f.Node;
        if (node.Kind == SchemaNode.NodeKind.Any)
        {
            node = c switch
            {
                '{' when f.Depth <= JsonSchemaCompiler.FreeMaxDepth => SchemaNode.FreeObject,
                '[' when f.Depth <= JsonSchemaCompiler.FreeMaxDepth => SchemaNode.AnyArray,
                '"' => SchemaNode.AnyString,
                '-' or (>= '0' and <= '9') => SchemaNode.AnyNumber,
                't' or 'f' => SchemaNode.Boolean,
                'n' => SchemaNode.Null,
                _ => null!,
            };
            if (node is null)
            {
                return false;
            }
        }
        switch (node.Kind)
        {
            case SchemaNode.NodeKind.Object when c == '{':
                f = new Frame { Kind = FrameKind.Object, Phase = BeforeOpen, Index = node.Free ? 0 : -1, Node = node, Depth = f.Depth };
                return true;
            case SchemaNode.NodeKind.Array when c == '[':
                f = new Frame { Kind = FrameKind.Array, Phase = BeforeOpen, Node = node, Depth = f.Depth };
                return true;
            case SchemaNode.NodeKind.String when c == '"':
                f = new Frame { Kind = FrameKind.String, Phase = BeforeOpen, Index = -1, Node = node, Depth = f.Depth };
                return true;
            case SchemaNode.NodeKind.Number or SchemaNode.NodeKind.Integer when c == '-' || char.IsAsciiDigit(c):
                f = new Frame { Kind = FrameKind.Number, Phase = NumStart, Node = node, Depth = f.Depth };
                return true;
            case SchemaNode.NodeKind.Literal:
                f = new Frame { Kind = FrameKind.Literal, Mask = AllBits(node.Literals.Length), Node = node, Depth = f.Depth };
                return true;
            default:
                return false;
        }
    }

    private static ulong AllBits(int n) => n >= 64 ? ulong.MaxValue : (1UL << n) - 1;

    /// <summary>
    /// A string's body. <paramref name="count"/> is -1 before the opening quote, then the characters so far;
    /// <paramref name="esc"/> the escape state.
    /// </summary>
    private static StepResult StringStep(ref int count, ref ulong esc, int max, char c)
    {
        if (count < 0)
        {
            if (c != '"')
            {
                return StepResult.Rejected;
            }
            count = 0;
            return StepResult.Accepted;
        }
        switch (esc)
        {
            case 0:
                if (c == '"')
                {
                    return StepResult.Done;
                }
                if (count >= max || c < 0x20 || c == '\uFFFD')
                {
                    return StepResult.Rejected;
                }
                count++;
                if (c == '\\')
                {
                    esc = 1;
                }
                return StepResult.Accepted;
            case 1:
                if (c is '"' or '\\' or '/' or 'b' or 'f' or 'n' or 'r' or 't')
                {
                    esc = 0;
                    return StepResult.Accepted;
                }
                if (c == 'u')
                {
                    esc = 5;
                    return StepResult.Accepted;
                }
                return StepResult.Rejected;
            default:
                if (!char.IsAsciiHexDigit(c))
                {
                    return StepResult.Rejected;
                }
                esc = esc == 2 ? 0 : esc - 1;
                return StepResult.Accepted;
        }
    }

    private static StepResult NumberStep(ref Frame f, char c)
    {
        var digit = char.IsAsciiDigit(c);
        var canEnd = f.Phase is NumZero or NumInt or NumFrac;
        var roomForDigit = f.Index < JsonSchemaCompiler.MaxNumberDigits;
        switch (f.Phase)
        {
            case NumStart:
                if (c == '-')
                {
                    f.Phase = NumMinus;
                    return StepResult.Accepted;
                }
                goto case NumMinus;
            case NumMinus:
                if (!digit)
                {
                    return StepResult.Rejected;
                }
                f.Index = 1;
                f.Phase = c == '0' ? NumZero : NumInt;
                return StepResult.Accepted;
            case NumZero:
            case NumInt:
                if (digit && f.Phase == NumInt && roomForDigit)
                {
                    f.Index++;
                    return StepResult.Accepted;
                }
                if (c == '.' && f.Node.Kind == SchemaNode.NodeKind.Number && roomForDigit)
                {
                    f.Phase = NumDot;
                    return StepResult.Accepted;
                }
                break;
            case NumDot:
            case NumFrac:
                if (digit && roomForDigit)
                {
                    f.Index++;
                    f.Phase = NumFrac;
                    return StepResult.Accepted;
                }
                break;
        }
        return canEnd ? StepResult.EndedBefore : StepResult.Rejected;
    }

    private static StepResult LiteralStep(ref Frame f, char c, string[] literals)
    {
        var pos = f.Index;
        ulong next = 0;
        var canEndHere = false;
        for (var m = f.Mask; m != 0; m &= m - 1)
        {
            var i = System.Numerics.BitOperations.TrailingZeroCount(m);
            var text = literals[i];
            if (pos < text.Length && text[pos] == c)
            {
                next |= 1UL << i;
            }
            else if (pos == text.Length)
            {
                canEndHere = true;
            }
        }
        if (next == 0)
        {
            // A literal that is complete (a number enum value such as 1 next to 10) ends before c.
            return canEndHere ? StepResult.EndedBefore : StepResult.Rejected;
        }
        f.Mask = next;
        f.Index = pos + 1;
        for (var m = next; m != 0; m &= m - 1)
        {
            if (literals[System.Numerics.BitOperations.TrailingZeroCount(m)].Length > pos + 1)
            {
                return StepResult.Accepted;
            }
        }
        return StepResult.Done;
    }

    private StepResult ArrayStep(ref Frame f, char c)
    {
        var node = f.Node;
        switch (f.Phase)
        {
            case ExpectItemOrClose:
                if (c == ']' && node.MinItems == 0)
                {
                    return StepResult.Done;
                }
                if (node.MaxItems == 0)
                {
                    return StepResult.Rejected;
                }
                return PushValue(ref f, node.Items!, c);
            case AfterValue:
                if (c == ']' && f.Index >= node.MinItems)
                {
                    return StepResult.Done;
                }
                if (c == ',' && f.Index < node.MaxItems)
                {
                    f.Phase = ExpectKey; // "expect an item" for arrays
                    return StepResult.Accepted;
                }
                return StepResult.Rejected;
            case ExpectKey:
                return PushValue(ref f, node.Items!, c);
            default:
                return StepResult.Rejected;
        }
    }

    /// <summary>A container's first character: its opening <paramref name="bracket"/>, after which it is in phase <paramref name="next"/>.</summary>
    private static StepResult Open(ref Frame f, char c, char bracket, byte next)
    {
        if (c != bracket)
        {
            return StepResult.Rejected;
        }
        f.Phase = next;
        return StepResult.Accepted;
    }

    /// <summary>The parent <paramref name="f"/> now waits for a value of <paramref name="node"/> that starts with c.</summary>
    private StepResult PushValue(ref Frame f, SchemaNode node, char c)
    {
        var child = new Frame { Kind = FrameKind.ValueStart, Node = node, Depth = f.Depth + 1 };
        if (!Begin(ref child, c))
        {
            return StepResult.Rejected;
        }
        f.Phase = InValue;
        Push(child);
        return StepResult.Retry;
    }

    private StepResult ObjectStep(ref Frame f, char c)
    {
        var node = f.Node;
        switch (f.Phase)
        {
            case ExpectKeyOrClose:
            case AfterValue:
                if (c == '}' && (node.Free || !RequiredAfter(node, f.Index)))
                {
                    return StepResult.Done;
                }
                if (f.Phase == ExpectKeyOrClose && c == '"')
                {
                    goto case ExpectKey;
                }
                if (f.Phase == AfterValue && c == ',' && (node.Free ? f.Index < node.MaxItems : f.Index + 1 < node.Properties.Count))
                {
                    f.Phase = ExpectKey;
                    return StepResult.Accepted;
                }
                return StepResult.Rejected;
            case ExpectKey:
                if (c != '"')
                {
                    return StepResult.Rejected;
                }
                if (node.Free)
                {
                    if (node.MaxItems == 0)
                    {
                        return StepResult.Rejected;
                    }
                    f.Phase = InKey;
                    f.Aux = 0;
                    f.Mask = 0;
                    return StepResult.Accepted;
                }
                {
                    var mask = KeyCandidates(node, f.Index);
                    if (mask == 0)
                    {
                        return StepResult.Rejected;
                    }
                    f.Phase = InKey;
                    Push(new Frame { Kind = FrameKind.Literal, Mask = mask, Node = KeyNode(node), Depth = f.Depth + 1 });
                    return StepResult.Retry;
                }
            case InKey:
            {
                // Free keys only (a schema key is a literal frame above this one).
                var count = f.Aux;
                var esc = f.Mask;
                var r = StringStep(ref count, ref esc, JsonSchemaCompiler.DefaultMaxStringLength, c);
                f.Aux = count;
                f.Mask = esc;
                if (r == StepResult.Done)
                {
                    f.Phase = ExpectColon;
                    return StepResult.Accepted;
                }
                return r;
            }
            case ExpectColon:
                if (c != ':')
                {
                    return StepResult.Rejected;
                }
                f.Phase = InValue;
                Push(new Frame { Kind = FrameKind.ValueStart, Node = node.Free ? SchemaNode.AnyValue : node.Properties[f.Index].Schema, Depth = f.Depth + 1 });
                return StepResult.Accepted;
            default:
                return StepResult.Rejected;
        }
    }

    private static bool RequiredAfter(SchemaNode node, int last)
    {
        for (var i = last + 1; i < node.Properties.Count; i++)
        {
            if (node.Properties[i].Required)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Properties that may come next after property <paramref name="last"/>: up to and including the next required one.</summary>
    private static ulong KeyCandidates(SchemaNode node, int last)
    {
        ulong mask = 0;
        for (var i = last + 1; i < node.Properties.Count; i++)
        {
            mask |= 1UL << i;
            if (node.Properties[i].Required)
            {
                break;
            }
        }
        return mask;
    }

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<SchemaNode, SchemaNode> KeyNodes = new();

    private static SchemaNode KeyNode(SchemaNode obj) =>
        KeyNodes.GetValue(obj, o => new SchemaNode { Kind = SchemaNode.NodeKind.Literal, Literals = o.KeyTexts });
}
