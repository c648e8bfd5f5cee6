using System.Text;

namespace Aurous.InferenceWorker.Chat;

/// <summary>A function the model may call: its name and its compiled <c>parameters</c> schema (root: an object).</summary>
public sealed record ToolSpec(string Name, SchemaNode Parameters);

/// <summary>
/// The tools of one request. <see cref="Required"/>: the answer must be tool calls (OpenAI's <c>tool_choice</c>
/// "required", or a named function when <see cref="Tools"/> holds just that one); otherwise "auto": the model decides.
/// </summary>
public sealed record ToolCalling(IReadOnlyList<ToolSpec> Tools, bool Required, bool Parallel);

/// <summary>Part of a tool call as it is generated: its name once complete, then pieces of its JSON arguments.</summary>
public sealed record ToolCallFragment(int Index, string? Name, string Arguments);

/// <summary>
/// Tool calls by constrained decoding, in the Hermes format that Qwen-style instruct models are trained on:
/// <code>
/// &lt;tool_call&gt;
/// {"name": "get_weather", "arguments": {"city": "Paris"}}
/// &lt;/tool_call&gt;
/// </code>
/// repeated (separated by a newline) for parallel calls. The name must be one of the declared functions and the
/// arguments must be a document of that function's <c>parameters</c> schema (<see cref="JsonPrefixAutomaton"/>), so
/// every call the engine returns parses and validates.
/// <para>
/// Required: the output starts with the first call. Auto: while the output is still a prefix of <c>&lt;tool_call&gt;</c>
/// the choice is open; the first character that leaves it makes the answer ordinary text (free, or the request's
/// <c>response_format</c> when it has one), and completing the tag commits to tool calls. Text that starts with
/// <c>&lt;tool_call&gt;</c> is therefore always a tool call, never a malformed one.
/// </para>
/// </summary>
public sealed class ToolCallConstraint : IOutputConstraint
{
    public const string CallTag = "<tool_call>";
    private const string CallHead = "\n{\"name\": \"";
    private const string NameTail = ", \"arguments\": "; // after the quote that ends the name
    private const string CallTail = "}\n</tool_call>";
    private const string NextCall = "\n" + CallTag + CallHead;
    /// <summary>Most calls in one answer when parallel calls are allowed.</summary>
    public const int MaxCalls = 16;

    private enum Phase : byte { Undecided, Literal, Name, Arguments, AfterCall, Answer }

    private readonly ToolCalling _calling;
    private readonly JsonPrefixAutomaton? _answerRoot;
    private readonly bool _record;

    private Phase _phase;
    private string _literal = "";
    private int _position;
    private Phase _afterLiteral;
    private int _candidate;
    private int _nameLength;
    private int _chosen = -1;
    private int _calls;
    private JsonPrefixAutomaton? _arguments;
    private JsonPrefixAutomaton? _answer;
    private readonly List<(int Index, string? Name, StringBuilder? Arguments)> _events = [];
    private ToolCallConstraint? _probe;

    /// <param name="calling">The declared functions and the choice.</param>
    /// <param name="answerFormat">Auto only: the grammar of a plain answer (a <c>response_format</c>); null: free text.</param>
    public ToolCallConstraint(ToolCalling calling, SchemaNode? answerFormat = null)
        : this(calling, answerFormat is null ? null : new JsonPrefixAutomaton(answerFormat), record: true)
    {
        if (calling.Tools.Count == 0)
        {
            throw new ArgumentException("at least one tool is needed", nameof(calling));
        }
        if (calling.Required)
        {
            Expect(CallTag + CallHead, Phase.Name);
        }
    }

    private ToolCallConstraint(ToolCalling calling, JsonPrefixAutomaton? answerRoot, bool record)
    {
        _calling = calling;
        _answerRoot = answerRoot;
        _record = record;
    }

    /// <summary>Tool calls completed so far.</summary>
    public int Calls => _calls;

    /// <summary>Auto mode, and the output so far is still a prefix of <c>&lt;tool_call&gt;</c>: text or tool calls may follow.</summary>
    public bool IsUndecided => _phase == Phase.Undecided;

    /// <summary>The answer is plain text (or the response_format's JSON), not tool calls.</summary>
    public bool IsAnswer => _phase == Phase.Answer;

    public bool IsComplete => _phase switch
    {
        Phase.AfterCall => !_calling.Parallel || _calls >= MaxCalls,
        Phase.Answer => _answer?.IsComplete ?? false,
        _ => false,
    };

    public bool MayEnd => _phase switch
    {
        Phase.AfterCall => true,
        Phase.Answer => _answer?.MayEnd ?? true,
        Phase.Undecided => _answerRoot is null, // an empty (or "<tool"-like) plain answer
        _ => false,
    };

    public bool IsFree => _phase == Phase.Answer && _answer is null;

    public bool Accepts(string text)
    {
        if (text.Length == 0)
        {
            return false;
        }
        var probe = _probe ??= new ToolCallConstraint(_calling, _answerRoot, record: false);
        probe.CopyFrom(this);
        return probe.TryFeed(text);
    }

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

    /// <summary>The fragments produced since the last call, in order (names first, then argument text).</summary>
    public IReadOnlyList<ToolCallFragment> Drain()
    {
        if (_events.Count == 0)
        {
            return [];
        }
        var fragments = _events.Select(e => new ToolCallFragment(e.Index, e.Name, e.Arguments?.ToString() ?? "")).ToArray();
        _events.Clear();
        return fragments;
    }

    private bool TryFeed(char c)
    {
        switch (_phase)
        {
            case Phase.Undecided:
                if (CallTag[_position] == c)
                {
                    if (++_position == CallTag.Length)
                    {
                        Expect(CallHead, Phase.Name);
                    }
                    return true;
                }
                // Leaving the tag: the answer is text. What was held back starts it.
                _phase = Phase.Answer;
                if (_answerRoot is null)
                {
                    return true;
                }
                _answer = new JsonPrefixAutomaton(SchemaNode.AnyValue);
                _answerRoot.CopyTo(_answer);
                return _answer.TryFeed(CallTag.AsSpan(0, _position).ToString()) && _answer.TryFeed(c);
            case Phase.Answer:
                return _answer?.TryFeed(c) ?? true;
            case Phase.Literal:
                if (_literal[_position] != c)
                {
                    return false;
                }
                if (++_position == _literal.Length)
                {
                    EndLiteral();
                }
                return true;
            case Phase.Name:
                return FeedName(c);
            case Phase.Arguments:
                if (!_arguments!.TryFeed(c))
                {
                    return false;
                }
                RecordArguments(c);
                if (_arguments.IsComplete)
                {
                    Expect(CallTail, Phase.AfterCall);
                }
                return true;
            case Phase.AfterCall:
                if (IsComplete || c != NextCall[0])
                {
                    return false;
                }
                Expect(NextCall, Phase.Name);
                _position = 1;
                return true;
            default:
                return false;
        }
    }

    private void Expect(string literal, Phase then)
    {
        _phase = Phase.Literal;
        _literal = literal;
        _position = 0;
        _afterLiteral = then;
    }

    private void EndLiteral()
    {
        _phase = _afterLiteral;
        switch (_phase)
        {
            case Phase.Name:
                _candidate = 0;
                _nameLength = 0;
                _chosen = -1;
                break;
            case Phase.Arguments:
                _arguments = new JsonPrefixAutomaton(_calling.Tools[_chosen].Parameters);
                break;
            case Phase.AfterCall:
                _calls++;
                break;
        }
    }

    /// <summary>
    /// The name so far is the first <see cref="_nameLength"/> characters of tool <see cref="_candidate"/> (the lowest
    /// index with that prefix); a quote ends it when some tool's whole name is that prefix.
    /// </summary>
    private bool FeedName(char c)
    {
        var tools = _calling.Tools;
        var prefix = tools[_candidate].Name.AsSpan(0, _nameLength);
        if (c == '"')
        {
            for (var i = _candidate; i < tools.Count; i++)
            {
                if (tools[i].Name.Length == _nameLength && tools[i].Name.AsSpan().StartsWith(prefix, StringComparison.Ordinal))
                {
                    _chosen = i;
                    if (_record)
                    {
                        _events.Add((_calls, tools[i].Name, null));
                    }
                    Expect(NameTail, Phase.Arguments);
                    return true;
                }
            }
            return false;
        }
        for (var i = _candidate; i < tools.Count; i++)
        {
            var name = tools[i].Name;
            if (name.Length > _nameLength && name[_nameLength] == c && name.AsSpan().StartsWith(prefix, StringComparison.Ordinal))
            {
                _candidate = i;
                _nameLength++;
                return true;
            }
        }
        return false;
    }

    private void RecordArguments(char c)
    {
        if (!_record)
        {
            return;
        }
        if (_events.Count == 0 || _events[^1] is not { Arguments: not null } last || last.Index != _calls)
        {
            _events.Add((_calls, null, new StringBuilder()));
        }
        _events[^1].Arguments!.Append(c);
    }

    private void CopyFrom(ToolCallConstraint other)
    {
        _phase = other._phase;
        _literal = other._literal;
        _position = other._position;
        _afterLiteral = other._afterLiteral;
        _candidate = other._candidate;
        _nameLength = other._nameLength;
        _chosen = other._chosen;
        _calls = other._calls;
        _arguments = CopyAutomaton(other._arguments, _arguments);
        _answer = CopyAutomaton(other._answer, _answer);
    }

    private static JsonPrefixAutomaton? CopyAutomaton(JsonPrefixAutomaton? source, JsonPrefixAutomaton? reuse)
    {
        if (source is null)
        {
            return null;
        }
        var target = reuse ?? new JsonPrefixAutomaton(SchemaNode.AnyValue);
        source.CopyTo(target);
        return target;
    }
}
