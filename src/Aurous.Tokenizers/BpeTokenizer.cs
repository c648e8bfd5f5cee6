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
    private readonly Dictionary<long, Merge> _merges;
    private readonly int[] _byteToId;
    private readonly AddedToken[] _addedTokens;
    private readonly SearchValues<string>? _addedSearch;
    private readonly bool _addPrefixSpace;
    private readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> _cacheLookup;
    private readonly int _cacheCapacity;
    private int _cacheCount;

    private readonly record struct Merge(int Rank, int Id);

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

        _byteToId = new int[256];
        for (var b = 0; b < 256; b++)
        {
            if (!vocab.TryGetValue(ByteLevel.ByteToChar[b].ToString(), out _byteToId[b]))
            {
                throw new InvalidDataException(
                    $"tokenizer.json: the vocabulary lacks the byte-level symbol for byte 0x{b:X2}; only byte-level BPE vocabularies are supported.");
            }
        }

        _merges = new Dictionary<long, Merge>(merges.Count);
        for (var rank = 0; rank < merges.Count; rank++)
        {
            var (left, right) = merges[rank];
            if (vocab.TryGetValue(left, out var leftId) && vocab.TryGetValue(right, out var rightId)
                && vocab.TryGetValue(string.Concat(left, right), out var mergedId))
            {
                _merges.TryAdd(PairKey(leftId, rightId), new Merge(rank, mergedId));
            }
        }

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
        using var document = JsonDocument.Parse(tokenizerJson, new JsonDocumentOptions { MaxDepth = 256 });
        var root = document.RootElement;
        var model = root.GetProperty("model");
        if (model.TryGetProperty("type", out var type) && type.GetString() != "BPE")
        {
            throw new InvalidDataException($"model.type is '{type.GetString()}'; only 'BPE' is supported.");
        }

        var vocabElement = model.GetProperty("vocab");
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var entry in vocabElement.EnumerateObject())
        {
            vocab[entry.Name] = entry.Value.GetInt32();
        }

        var merges = new List<(string, string)>();
        foreach (var merge in model.GetProperty("merges").EnumerateArray())
        {
            if (merge.ValueKind == JsonValueKind.String)
            {
                // Older format: "left right" (neither side contains a space in byte-level vocabularies).
                var text = merge.GetString()!;
                var space = text.IndexOf(' ', 1);
                if (space < 0)
                {
                    throw new InvalidDataException($"merge '{text}' is not of the form 'left right'.");
                }
                merges.Add((text[..space], text[(space + 1)..]));
            }
            else
            {
                // Newer format: ["left", "right"].
                merges.Add((merge[0].GetString()!, merge[1].GetString()!));
            }
        }

        var added = new List<AddedToken>();
        if (root.TryGetProperty("added_tokens", out var addedElement) && addedElement.ValueKind == JsonValueKind.Array)
        {
            foreach (var token in addedElement.EnumerateArray())
            {
                added.Add(new AddedToken(
                    token.GetProperty("id").GetInt32(),
                    token.GetProperty("content").GetString()!,
                    token.TryGetProperty("special", out var special) && special.ValueKind == JsonValueKind.True));
            }
        }

        var addPrefixSpace = false;
        if (root.TryGetProperty("pre_tokenizer", out var pre) && pre.ValueKind == JsonValueKind.Object)
        {
            var preType = pre.GetProperty("type").GetString();
            if (preType != "ByteLevel")
            {
                throw new InvalidDataException($"pre_tokenizer.type is '{preType}'; only 'ByteLevel' (the GPT-2 split) is supported.");
            }
            if (pre.TryGetProperty("use_regex", out var useRegex) && useRegex.ValueKind == JsonValueKind.False)
            {
                throw new InvalidDataException("pre_tokenizer ByteLevel with use_regex=false is not supported.");
            }
            addPrefixSpace = pre.TryGetProperty("add_prefix_space", out var prefix) && prefix.ValueKind == JsonValueKind.True;
        }
        else
        {
            throw new InvalidDataException("pre_tokenizer is missing; a ByteLevel pre-tokenizer is required.");
        }
        if (root.TryGetProperty("normalizer", out var normalizer) && normalizer.ValueKind != JsonValueKind.Null)
        {
            throw new InvalidDataException("normalizers are not supported (byte-level BPE tokenizers have none).");
        }
        return new BpeTokenizer(vocab, merges, added, addPrefixSpace, Math.Max(0, cacheCapacity));
    }

    /// <summary>The token ids of <paramref name="text"/> (no special tokens are added).</summary>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var sink = new IdSink(text.Length / 3 + 4);
        try
        {
            Tokenize(text, ref sink);
            return sink.ToArray();
        }
        finally
        {
            sink.Dispose();
        }
    }

    /// <summary>
    /// The token ids of <paramref name="text"/> as plain text: added tokens are not recognised, so text that spells
    /// <c>&lt;|im_start|&gt;</c> is encoded as the characters it is, never as the control token. Use it for text a
    /// client supplies, so that it cannot forge a chat template's markers (tiktoken's <c>encode_ordinary</c>).
    /// </summary>
    public int[] EncodeOrdinary(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var sink = new IdSink(text.Length / 3 + 4);
        try
        {
            Tokenize(text, ref sink, addedTokens: false);
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
            var ids = BytePairEncode(word);
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
        sink.AddRange(BytePairEncode(word));
    }

    /// <summary>UTF-8 bytes of the word as byte-level ids, then merges applied lowest rank first (leftmost on ties).</summary>
    private int[] BytePairEncode(ReadOnlySpan<char> word)
    {
        var byteCount = Encoding.UTF8.GetByteCount(word);
        var rented = byteCount > 256 ? ArrayPool<byte>.Shared.Rent(byteCount) : null;
        Span<byte> bytes = rented ?? stackalloc byte[256];
        bytes = bytes[..Encoding.UTF8.GetBytes(word, bytes)];
        try
        {
            var n = bytes.Length;
            if (n == 1)
            {
                return [_byteToId[bytes[0]]];
            }
            var symbols = new int[n];
            var prev = new int[n];
            var next = new int[n];
            for (var k = 0; k < n; k++)
            {
                symbols[k] = _byteToId[bytes[k]];
                prev[k] = k - 1;
                next[k] = k + 1 < n ? k + 1 : -1;
            }

            // Candidate pairs keyed by (rank, left position); stale entries are skipped when popped.
            var queue = new PriorityQueue<(int Left, int LeftId, int RightId), (int Rank, int Left)>(n);
            for (var k = 0; k + 1 < n; k++)
            {
                Enqueue(queue, k, symbols[k], symbols[k + 1]);
            }
            var remaining = n;
            while (queue.TryDequeue(out var candidate, out _))
            {
                var left = candidate.Left;
                var right = next[left];
                if (symbols[left] != candidate.LeftId || right < 0 || symbols[right] != candidate.RightId)
                {
                    continue; // one side was merged away since this pair was queued
                }
                var merged = _merges[PairKey(candidate.LeftId, candidate.RightId)].Id;
                symbols[left] = merged;
                symbols[right] = -1;
                next[left] = next[right];
                if (next[right] >= 0)
                {
                    prev[next[right]] = left;
                }
                remaining--;
                if (prev[left] >= 0)
                {
                    Enqueue(queue, prev[left], symbols[prev[left]], merged);
                }
                if (next[left] >= 0)
                {
                    Enqueue(queue, left, merged, symbols[next[left]]);
                }
            }

            var result = new int[remaining];
            var r = 0;
            for (var k = 0; k >= 0; k = next[k])
            {
                result[r++] = symbols[k];
            }
            return result;
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    private void Enqueue(PriorityQueue<(int, int, int), (int, int)> queue, int left, int leftId, int rightId)
    {
        if (_merges.TryGetValue(PairKey(leftId, rightId), out var merge))
        {
            queue.Enqueue((left, leftId, rightId), (merge.Rank, left));
        }
    }

    private static long PairKey(int left, int right) => ((long)left << 32) | (uint)right;

    /// <summary>Collects ids into a pooled buffer, or only counts them when created with capacity 0.</summary>
    private struct IdSink : IDisposable
    {
        private int[]? _buffer;

        public IdSink(int capacity) => _buffer = capacity > 0 ? ArrayPool<int>.Shared.Rent(capacity) : null;

        public int Count { get; private set; }

        public void Add(int id)
        {
            if (_buffer is not null)
            {
                Ensure(Count + 1);
                _buffer[Count] = id;
            }
            Count++;
        }

        public void AddRange(ReadOnlySpan<int> ids)
        {
            if (_buffer is not null)
            {
                Ensure(Count + ids.Length);
                ids.CopyTo(_buffer.AsSpan(Count));
            }
            Count += ids.Length;
        }

        private void Ensure(int needed)
        {
            if (needed <= _buffer!.Length)
            {
                return;
            }
            var bigger = ArrayPool<int>.Shared.Rent(Math.Max(needed, _buffer.Length * 2));
            _buffer.AsSpan(0, Count).CopyTo(bigger);
            ArrayPool<int>.Shared.Return(_buffer);
            _buffer = bigger;
        }

        public readonly int[] ToArray() => _buffer is null ? [] : _buffer.AsSpan(0, Count).ToArray();

        public void Dispose()
        {
            if (_buffer is not null)
            {
                ArrayPool<int>.Shared.Return(_buffer);
                _buffer = null;
            }
        }
    }
}
