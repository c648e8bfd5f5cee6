using System.Buffers;
using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;

namespace Aurous.Tokenizers;

/// <summary>
/// A byte-level BPE tokenizer (GPT-2 family) read from a Hugging Face <c>tokenizer.json</c>: <c>model.type</c> "BPE"
/// with <c>vocab</c> and <c>merges</c>, a <c>ByteLevel</c> pre-tokenizer (GPT-2 split), and <c>added_tokens</c>
/// (special tokens such as <c>&lt;|endoftext|&gt;</c>, matched in the text before splitting, as Hugging Face does).
/// <para>
/// Built for a hot path: the split is a linear scan (no regex), merges run on token ids with a heap (n log n even for a
/// pathological 1 MB "word"), and each word's ids are cached (lock-free reads, bounded size). Immutable after
/// <see cref="Load(string)"/> apart from the cache: one instance can be shared by every thread.
/// </para>
/// </summary>
public sealed class BpeTokenizer
{
    /// <summary>Words longer than this (in chars) are never cached: they are rare and would bloat the cache.</summary>
    private const int MaxCachedWordLength = 64;
    private const int DefaultCacheCapacity = 100_000;

    private readonly Dictionary<string, int> _vocab;
    private readonly string?[] _idToToken;
    private readonly bool[] _isAdded;
    private readonly BpeMerges _merges;
    private readonly AddedToken[] _addedTokens;
    private readonly SearchValues<string>? _addedSearch;
    private readonly bool _addPrefixSpace;
    private readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> _cacheLookup;
    private readonly int _cacheCapacity;
    private int _cacheCount;

    /// <summary>An added (usually special) token: its text and id.</summary>
    public sealed record AddedToken(int Id, string Content, bool Special);

    private BpeTokenizer(
        Dictionary<string, int> vocab,
        IReadOnlyList<(string Left, string Right)> merges,
        IReadOnlyList<AddedToken> addedTokens,
        bool addPrefixSpace,
        int cacheCapacity)
    {
        _vocab = vocab;
        _addPrefixSpace = addPrefixSpace;
        _cacheCapacity = cacheCapacity;
        _cacheLookup = _cache.GetAlternateLookup<ReadOnlySpan<char>>();

        var maxId = -1;
        foreach (var id in vocab.Values)
        {
            maxId = Math.Max(maxId, id);
        }
        foreach (var token in addedTokens)
        {
            maxId = Math.Max(maxId, token.Id);
        }
        VocabSize = maxId + 1;
        _idToToken = new string?[VocabSize];
        _isAdded = new bool[VocabSize];
        foreach (var (token, id) in vocab)
        {
            if (id < 0)
            {
                throw new InvalidDataException($"tokenizer.json: vocabulary entry '{token}' has a negative id.");
            }
            _idToToken[id] = token;
        }
        foreach (var token in addedTokens)
        {
            _idToToken[token.Id] = token.Content;
            _isAdded[token.Id] = true;
        }

        _merges = new BpeMerges(vocab, merges);

        _addedTokens = addedTokens.Where(t => t.Content.Length > 0).OrderByDescending(t => t.Content.Length).ToArray();
        _addedSearch = _addedTokens.Length > 0
            ? SearchValues.Create(_addedTokens.Select(t => t.Content).Distinct().ToArray(), StringComparison.Ordinal)
            : null;
    }

    /// <summary>Number of ids (vocabulary plus added tokens): every id this tokenizer produces is below it.</summary>
    public int VocabSize { get; }

    public IReadOnlyList<AddedToken> AddedTokens => _addedTokens;

    /// <summary>Reads a Hugging Face <c>tokenizer.json</c>. Throws <see cref="InvalidDataException"/> for files it cannot serve.</summary>
    public static BpeTokenizer Load(string tokenizerJsonPath) => Load(tokenizerJsonPath, DefaultCacheCapacity);

    /// <summary>As <see cref="Load(string)"/>, with the number of cached words (0 disables the cache).</summary>
    public static BpeTokenizer Load(string tokenizerJsonPath, int cacheCapacity)
    {
        ArgumentNullException.ThrowIfNull(tokenizerJsonPath);
        using var stream = File.OpenRead(tokenizerJsonPath);
        try
        {
            return Parse(stream, cacheCapacity);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or KeyNotFoundException)
        {
            throw new InvalidDataException($"'{tokenizerJsonPath}' is not a valid tokenizer.json: {ex.Message}", ex);
        }
        catch (InvalidDataException ex)
        {
            throw new InvalidDataException($"'{tokenizerJsonPath}': {ex.Message}", ex);
        }
    }

    /// <summary>Reads a <c>tokenizer.json</c> from a stream.</summary>
    public static BpeTokenizer Parse(Stream tokenizerJson, int cacheCapacity = DefaultCacheCapacity)
    {
        var definition = TokenizerDefinition.Read(tokenizerJson);
        return new BpeTokenizer(definition.Vocab, definition.Merges, definition.AddedTokens, definition.AddPrefixSpace, Math.Max(0, cacheCapacity));
    }

    /// <summary>The token ids of <paramref name="text"/> (no special tokens are added).</summary>
    public int[] Encode(string text) => Encode(text, addedTokens: true);

    /// <summary>
    /// The token ids of <paramref name="text"/> as plain text: added tokens are not recognised, so text that spells
    /// <c>&lt;|im_start|&gt;</c> is encoded as the characters it is, never as the control token. Use it for text a
    /// client supplies, so that it cannot forge a chat template's markers (tiktoken's <c>encode_ordinary</c>).
    /// </summary>
    public int[] EncodeOrdinary(string text) => Encode(text, addedTokens: false);

    private int[] Encode(string text, bool addedTokens)
    {
        ArgumentNullException.ThrowIfNull(text);
        var sink = new IdSink(text.Length / 3 + 4);
        try
        {
            Tokenize(text, ref sink, addedTokens);
            return sink.ToArray();
        }
        finally
        {
            sink.Dispose();
        }
    }

    /// <summary>The number of tokens <see cref="Encode"/> would return, without allocating the ids.</summary>
    public int CountTokens(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var sink = new IdSink(0);
        Tokenize(text, ref sink);
        return sink.Count;
    }

    /// <summary>The text of <paramref name="ids"/>. Byte sequences that are not valid UTF-8 decode to U+FFFD.</summary>
    public string Decode(ReadOnlySpan<int> ids)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(16, ids.Length * 4));
        var length = 0;
        try
        {
            foreach (var id in ids)
            {
                if ((uint)id >= (uint)_idToToken.Length || _idToToken[id] is not { } token)
                {
                    throw new ArgumentOutOfRangeException(nameof(ids), id, $"Token id {id} is not in the vocabulary (size {VocabSize}).");
                }
                var needed = _isAdded[id] ? Encoding.UTF8.GetByteCount(token) : token.Length;
                if (length + needed > buffer.Length)
                {
                    var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(buffer.Length * 2, length + needed));
                    buffer.AsSpan(0, length).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
                }
                if (_isAdded[id])
                {
                    length += Encoding.UTF8.GetBytes(token, buffer.AsSpan(length));
                    continue;
                }
                foreach (var c in token)
                {
                    var b = c < ByteLevel.CharToByte.Length ? ByteLevel.CharToByte[c] : (short)-1;
                    if (b < 0)
                    {
                        throw new InvalidDataException($"Vocabulary token '{token}' (id {id}) is not byte-level.");
                    }
                    buffer[length++] = (byte)b;
                }
            }
            return Encoding.UTF8.GetString(buffer, 0, length);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>The id of a vocabulary or added token, e.g. <c>&lt;|endoftext|&gt;</c>.</summary>
    public bool TryGetTokenId(string token, out int id)
    {
        foreach (var added in _addedTokens)
        {
            if (added.Content == token)
            {
                id = added.Id;
                return true;
            }
        }
        return _vocab.TryGetValue(token, out id);
    }

    private void Tokenize(string text, ref IdSink sink, bool addedTokens = true)
    {
        ReadOnlySpan<char> rest = _addPrefixSpace && text.Length > 0 && text[0] != ' ' ? string.Concat(" ", text) : text;
        if (_addedSearch is null || !addedTokens)
        {
            EncodeSegment(rest, ref sink);
            return;
        }
        while (rest.Length > 0)
        {
            var at = rest.IndexOfAny(_addedSearch);
            if (at < 0)
            {
                EncodeSegment(rest, ref sink);
                return;
            }
            EncodeSegment(rest[..at], ref sink);
            var matched = MatchAddedToken(rest[at..]);
            sink.Add(matched.Id);
            rest = rest[(at + matched.Content.Length)..];
        }
    }

    private AddedToken MatchAddedToken(ReadOnlySpan<char> text)
    {
        // _addedTokens is sorted longest first, so the longest token starting here wins.
        foreach (var token in _addedTokens)
        {
            if (text.StartsWith(token.Content, StringComparison.Ordinal))
            {
                return token;
            }
        }
        throw new InvalidOperationException("unreachable: SearchValues matched no added token");
    }

    private void EncodeSegment(ReadOnlySpan<char> segment, ref IdSink sink)
    {
        var i = 0;
        while (i < segment.Length)
        {
            var end = Gpt2PreTokenizer.PieceEnd(segment, i);
            EncodeWord(segment[i..end], ref sink);
            i = end;
        }
    }

    private void EncodeWord(ReadOnlySpan<char> word, ref IdSink sink)
    {
        if (_cacheCapacity > 0 && word.Length <= MaxCachedWordLength)
        {
            if (_cacheLookup.TryGetValue(word, out var cached))
            {
                sink.AddRange(cached);
                return;
            }
            var ids = _merges.Encode(word);
            if (Interlocked.Increment(ref _cacheCount) > _cacheCapacity)
            {
                // Bounded: start over rather than grow without limit on adversarial input.
                _cache.Clear();
                Interlocked.Exchange(ref _cacheCount, 1);
            }
            _cacheLookup.TryAdd(word, ids);
            sink.AddRange(ids);
            return;
        }
        sink.AddRange(_merges.Encode(word));
    }

}
