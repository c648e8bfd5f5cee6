using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using CsCheck;
using Xunit.Abstractions;

namespace Aurous.Api.Tests;

/// <summary>
/// Generated requests against every route of the running API: valid bodies mutated (wrong types, huge numbers, deep
/// nesting, duplicate keys, bytes that are not UTF-8, lone surrogates, NaN-like tokens, huge strings, unknown fields,
/// truncation) and plain garbage, with random Authorization, X-Api-Key, Idempotency-Key, Aurous-Version and Content-Type
/// headers, on the mapped routes, unknown ones and wrong methods. Not one may be a 5xx, and every error must be the
/// envelope with the response's request id. <c>AUROUS_FUZZ_CASES</c> sets the count (default <see cref="DefaultCases"/>;
/// eng/fuzz.sh runs 10,000); <c>AUROUS_FUZZ_SEED</c> replays a CsCheck seed.
/// </summary>
[Collection(ApiCollection.Name)]
[Trait("Category", "Fuzz")]
public sealed class InputFuzzTests(ApiFixture fixture, ITestOutputHelper output)
{
    private const int DefaultCases = 1500;
    private const string EmbedModel = "aurous-embed-vision-1.0";
    private const string ChatModel = "aurous-grow-2.0-pro";

    public sealed record FuzzRequest(string Method, string Path, IReadOnlyList<(string Name, string Value)> Headers, byte[]? Body)
    {
        public override string ToString()
        {
            var body = Body is null ? "(none)" : Body.Length > 400 ? $"{Show(Body[..400])}… ({Body.Length} bytes)" : Show(Body);
            return $"{Method} {(Path.Length > 200 ? Path[..200] + "…" : Path)} [{string.Join("; ", Headers.Select(h => $"{h.Name}: {(h.Value.Length > 80 ? h.Value[..80] + "…" : h.Value)}"))}] {body}";
        }

        private static string Show(byte[] bytes) => System.Text.Unicode.Utf8.IsValid(bytes) ? Encoding.UTF8.GetString(bytes) : "hex:" + Convert.ToHexString(bytes);
    }

    [Fact]
    public async Task Generated_requests_never_get_a_5xx_and_every_error_is_the_envelope()
    {
        var cases = int.TryParse(Environment.GetEnvironmentVariable("AUROUS_FUZZ_CASES"), out var n) && n > 0 ? n : DefaultCases;
        var seed = Environment.GetEnvironmentVariable("AUROUS_FUZZ_SEED");
        var (teamId, key) = await fixture.System.CreateTeamAsync(credits: 1_000_000m);
        await fixture.System.SetLimitsAsync(teamId, rpm: 10_000_000, tpm: 1_000_000_000);
        using var http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, MaxConnectionsPerServer = 8 })
        {
            BaseAddress = fixture.System.Endpoint("api"),
            Timeout = TimeSpan.FromSeconds(120),
        };

        var seen = new ConcurrentDictionary<string, int>();
        var watch = Stopwatch.StartNew();
        try
        {
            await Requests(key).SampleAsync(async request =>
            {
                var (status, code) = await SendAndCheckAsync(http, request);
                seen.AddOrUpdate($"{status} {code}", 1, (_, c) => c + 1);
            }, output.WriteLine, seed: seed, iter: cases, threads: 4, print: r => r.ToString());
        }
        catch
        {
            // The server's side of a failure: its unhandled-error log lines.
            foreach (var line in fixture.System.Log.Where(l => l.Contains("Unhandled", StringComparison.Ordinal) || l.Contains("Exception", StringComparison.Ordinal)).TakeLast(20))
            {
                output.WriteLine(line.Length > 3000 ? line[..3000] : line);
            }
            throw;
        }
        watch.Stop();

        var summary = new StringBuilder()
            .AppendLine($"fuzz: {cases} requests in {watch.Elapsed.TotalSeconds:0.0} s, 5xx: {seen.Where(s => s.Key.StartsWith('5')).Sum(s => s.Value)}, distinct status/code pairs: {seen.Count}");
        foreach (var (pair, count) in seen.OrderBy(s => s.Key, StringComparer.Ordinal))
        {
            summary.AppendLine($"  {pair}: {count}");
        }
        output.WriteLine(summary.ToString());
        var file = Path.Combine(fixture.System.Settings.RepoRoot, "artifacts", "fuzz", "summary.txt");
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        await File.WriteAllTextAsync(file, summary.ToString());

        seen.Keys.ShouldNotContain(k => k.StartsWith('5'));
        // The generators reach the interesting answers, not only one easy error.
        seen.Keys.ShouldContain(k => k.StartsWith("200"));
        seen.Keys.ShouldContain("400 invalid_json");
        seen.Keys.ShouldContain("400 invalid_type");
        seen.Count.ShouldBeGreaterThan(15);
    }

    /// <summary>Sends one request and checks the answer; returns its status and error code ("-" for a success).</summary>
    private static async Task<(int Status, string Code)> SendAndCheckAsync(HttpClient http, FuzzRequest fuzz)
    {
        using var request = new HttpRequestMessage(new HttpMethod(fuzz.Method), fuzz.Path);
        if (fuzz.Body is not null)
        {
            request.Content = new ByteArrayContent(fuzz.Body);
        }
        foreach (var (name, value) in fuzz.Headers)
        {
            if (name == "Content-Type")
            {
                request.Content ??= new ByteArrayContent([]);
                request.Content.Headers.TryAddWithoutValidation(name, value);
            }
            else
            {
                request.Headers.TryAddWithoutValidation(name, value);
            }
        }
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseContentRead);
        var status = (int)response.StatusCode;
        var body = await response.Content.ReadAsByteArrayAsync();
        status.ShouldBeLessThan(500, $"{fuzz} -> {status} {Encoding.UTF8.GetString(body)}");
        var sentUri = new Uri(http.BaseAddress!, fuzz.Path);
        if (Encoding.UTF8.GetByteCount($"{fuzz.Method} {sentUri.PathAndQuery} HTTP/1.1") > Aurous.Api.Pipeline.RequestLimits.ServerRequestLineBytes)
        {
            // A request line past Kestrel's own limit is refused by Kestrel, before any application code (docs/input.md).
            // Kestrel measures the line while reading it, before it looks at the target, so this comes first even when
            // the path would be refused too.
            status.ShouldBe(414, $"{fuzz}");
            return (status, "(server)");
        }
        if (RefusedByTheServer(sentUri))
        {
            // Kestrel answers these itself, before any application code (docs/input.md): a bare 400, nothing to check more.
            status.ShouldBe(400, $"{fuzz}");
            return (status, "(server)");
        }
        var requestId = response.Headers.TryGetValues("Aurous-Request-Id", out var ids) ? ids.Single() : null;
        requestId.ShouldNotBeNull($"{fuzz} -> {status} without a request id");
        if (status < 400)
        {
            return (status, "-");
        }
        if (fuzz.Method == "HEAD")
        {
            return (status, "(head)");
        }
        response.Content.Headers.ContentType?.MediaType.ShouldBe("application/json", $"{fuzz} -> {status}");
        var error = JsonDocument.Parse(body).RootElement.GetProperty("error");
        foreach (var field in new[] { "type", "code", "message", "doc_url" })
        {
            error.GetProperty(field).GetString().ShouldNotBeNullOrWhiteSpace($"{fuzz} -> {status}: {field}");
        }
        error.GetProperty("request_id").GetString().ShouldBe(requestId);
        return (status, error.GetProperty("code").GetString()!);
    }

    /// <summary>An encoded NUL in the path as sent (after the client removed dot segments): Kestrel refuses the request target.</summary>
    private static bool RefusedByTheServer(Uri sent) => sent.AbsolutePath.Contains("%00", StringComparison.Ordinal);

    // ---- Generators ----

    private static readonly string[] Methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"];

    /// <summary>Gen.Frequency over generators (spelled out so it never resolves to the overload over constant values).</summary>
    private static Gen<T> Pick<T>(params (int Weight, Gen<T> Gen)[] options) =>
        Gen.Frequency(options.Select(o => (o.Weight, (IGen<T>)o.Gen)).ToArray());

    /// <summary>One value from each generator, in order.</summary>
    private static Gen<List<T>> Sequence<T>(IEnumerable<Gen<T>> gens) =>
        gens.Aggregate(Gen.Const(() => new List<T>()), (all, next) => from list in all from value in next select new List<T>(list) { value });

    private static Gen<FuzzRequest> Requests(string key) =>
        from route in Pick(
            (6, ChatCompletion),
            (5, Embedding("/v1/embeddings")),
            (2, Embedding("/v1/embeddings/estimate")),
            (2, Get(from id in Segment select "/v1/chat/completions/" + id)),
            (1, Get(Gen.Const("/v1/models"))),
            (2, Get(from id in Gen.OneOf<string>(Gen.OneOf(EmbedModel, ChatModel, "gpt-4o"), Segment) select "/v1/models/" + id)),
            (1, Get(Gen.Const("/v1/balance"))),
            (1, Get(Gen.OneOf("/health", "/alive", "/openapi/v1.json"))),
            (2, Get(from segments in Segment.Array[1, 4] select "/" + string.Join('/', segments))),
            (2, Get(from segments in Segment.Array[1, 3] select "/v1/" + string.Join('/', segments))),
            (3, WrongMethod))
        from headers in Headers(key, route.Body is not null)
        select route with { Headers = [.. route.Headers, .. headers] };

    /// <summary>A GET, sometimes with a query string (no route reads one; hostile ones must still do no harm).</summary>
    private static Gen<FuzzRequest> Get(Gen<string> path) =>
        from p in path
        from query in Pick((4, Gen.Const("")), (1, from k in Segment from v in Segment select $"?{k}={v}&{k}"))
        select new FuzzRequest("GET", p + query, [], null);

    private static readonly Gen<byte[]> Garbage = Pick(
        (3, Gen.Byte.Array[0, 200]),
        (2, Gen.String[Gen.Char["{}[]\":,0123456789.eE+-truefalsn \\u"], 0, 120].Select(Encoding.UTF8.GetBytes)),
        (1, Gen.OneOf("", "null", "[]", "\"text\"", "42", "{", "{}", "NaN", "{\"a\":NaN}", "{\"a\":Infinity}", "\uFEFF{}").Select(Encoding.UTF8.GetBytes)));

    private static readonly Gen<FuzzRequest> WrongMethod =
        from path in Gen.OneOf("/v1/chat/completions", "/v1/embeddings", "/v1/embeddings/estimate", "/v1/models", "/v1/models/x",
            "/v1/balance", "/v1/chat/completions/x", "/health", "/alive", "/v1", "/")
        from method in Gen.OneOf(Methods)
        from withBody in Gen.Bool
        from body in Garbage
        select new FuzzRequest(method, path, [], method is "GET" or "HEAD" || !withBody ? null : body);

    /// <summary>A path segment: plain, percent-encoded bytes (NUL, invalid UTF-8, slashes), dots, long.</summary>
    private static readonly Gen<string> Segment = Pick(
        (4, Gen.String[Gen.Char["abcdefghijklmnopqrstuvwxyz0123456789-_.~"], 1, 24]),
        (2, Gen.Byte.Array[1, 12].Select(b => string.Concat(b.Select(x => $"%{x:X2}")))),
        (1, Gen.OneOf("..", ".", "%2e%2e", "%00", "%ED%A0%80", "%C0%AF", "%FF", "%2F", "chatcmpl-%00", "a%20b")),
        (1, Gen.Int[200, 6000].Select(n => new string('x', n))));

    /// <summary>Printable ASCII (what a header may carry), short or long.</summary>
    private static readonly Gen<string> HeaderText = Pick(
        (4, Gen.String[Gen.Char[' ', '~'], 1, 40].Select(s => s.Trim() is { Length: > 0 } t ? t : "x")),
        (1, Gen.Int[1000, 20_000].Select(n => new string('h', n))));

    private static Gen<(string, string)[]> One(string name, Gen<string> values) => values.Select(v => new[] { (name, v) });

    private static Gen<(string, string)[]> None => Gen.Const(Array.Empty<(string, string)>());

    private static Gen<(string, string)[]> Headers(string key, bool hasBody) =>
        from auth in Pick(
            (20, Gen.Const(new[] { ("X-Api-Key", key) })),
            (3, Gen.Const(new[] { ("Authorization", "Bearer " + key) })),
            (1, None),
            (2, from name in Gen.OneOf("Authorization", "X-Api-Key")
                from value in Gen.OneOf<string>(HeaderText, Gen.Const("Bearer "), Gen.Const("Bearer al_live_" + new string('0', 64)), HeaderText.Select(t => "Bearer " + t))
                select new[] { (name, value) }))
        from idempotency in Pick(
            (6, None),
            (2, One("Idempotency-Key", Gen.Guid.Select(g => g.ToString()))),
            (2, One("Idempotency-Key", HeaderText)),
            (1, One("Idempotency-Key", Gen.Int[250, 400].Select(n => new string('k', n)))))
        from version in Pick(
            (16, None),
            (1, One("Aurous-Version", Gen.OneOf("2026-05-15", "2099-01-01", "2020-01-01", "2026-02-30", "9999-99-99", "2026-5-15"))),
            (1, One("Aurous-Version", HeaderText)))
        from contentType in hasBody
            ? Pick(
                (16, One("Content-Type", Gen.Const("application/json"))),
                (1, None),
                (2, One("Content-Type", Gen.OneOf("text/plain", "application/json; charset=utf-16", "application/x-www-form-urlencoded",
                    "multipart/form-data; boundary=x", "application/vnd.api+json", "json", ";;;", "application/json; charset=\"", "*/*"))),
                (1, One("Content-Type", HeaderText)))
            : None
        select auth.Concat(idempotency).Concat(version).Concat(contentType).ToArray();

    /// <summary>A JSON value as bytes; deliberately sometimes not JSON, or JSON whose strings are not text.</summary>
    public sealed record JsonText(byte[] Bytes)
    {
        public override string ToString() => Encoding.UTF8.GetString(Bytes);
    }

    private static JsonText Lit(string text) => new(Encoding.UTF8.GetBytes(text));

    private static JsonText Str(string value) => Lit(JsonSerializer.Serialize(value));

    private static Gen<JsonText> Lits(params string[] texts) => Gen.OneOf(texts).Select(Lit);

    /// <summary>Any JSON-ish value, with the hostile ones weighted up.</summary>
    private static readonly Gen<JsonText> Value = Pick(
        (2, Gen.Int[-5, 20].Select(i => Lit(i.ToString(System.Globalization.CultureInfo.InvariantCulture)))),
        (2, Lits("1e400", "-1e400", "123456789012345678901234567890", "0.5", "-0", "1e-400", "2.0", "1E3", "NaN", "Infinity", "-Infinity", "0x10", "01", ".5", "+1")),
        (2, Lits("true", "false", "null", "[]", "{}", "\"\"", "\"text\"", "[1,\"a\",null]", "{\"a\":1,\"a\":2}", "{\"x\":{\"y\":[{\"z\":1,\"z\":1}]}}")),
        (2, Lits("\"\\ud800\"", "\"\\udfff\"", "\"a\\ud83d\"", "\"\\u0000\"", "\"\\uZZZZ\"", "\"\\\"", "\"line\nbreak\"", "'single'")),
        (1, Gen.Byte[0x80, 0xFF].Array[1, 4].Select(b => new JsonText([(byte)'"', .. b, (byte)'"']))),
        (1, Gen.Int[1, 200].Select(depth => Lit(new string('[', depth) + new string(']', depth)))),
        (1, Gen.Int[1, 100].Select(depth => Lit(string.Concat(Enumerable.Repeat("{\"a\":", depth)) + "1" + new string('}', depth)))),
        (1, Gen.Int[10_000, 300_000].Select(n => Str(new string('a', n)))),
        (1, Gen.String.Select(Str)));

    /// <summary>Media references that never leave this machine: data: URLs (good, garbage, a claimed 20000 x 20000) and private addresses.</summary>
    private static readonly Gen<string> MediaUrl = Pick(
        (2, Gen.Const(() => "data:image/png;base64," + Convert.ToBase64String(TestMedia.Png))),
        (1, Gen.Byte.Array[0, 64].Select(b => "data:image/png;base64," + Convert.ToBase64String(b))),
        (1, Gen.OneOf(9_000, 20_000).Select(side => "data:image/png;base64," + Convert.ToBase64String(InputHardeningTests.PngClaiming(side, side)))),
        (1, Gen.OneOf("http://127.0.0.1:1/a.png", "http://169.254.169.254/latest/meta-data/", "ftp://example.invalid/a.png", "data:,",
            "data:image/png;base64,@@@", "not a url", "")));

    private static Gen<JsonText> JsonArray(Gen<JsonText> items, int min, int max) =>
        items.Array[min, max].Select(a => Lit("[" + string.Join(',', a.Select(x => x.ToString())) + "]"));

    private static readonly Gen<JsonText> Part = Pick(
        (3, Gen.String[Gen.Char['a', 'z'], 0, 12].Select(t => Lit($$"""{"type":"text","text":"{{t}}"}"""))),
        (2, MediaUrl.Select(u => Lit("{\"type\":\"image_url\",\"image_url\":{\"url\":" + JsonSerializer.Serialize(u) + "}}"))),
        (1, MediaUrl.Select(u => Lit("{\"type\":\"video_url\",\"video_url\":" + JsonSerializer.Serialize(u) + "}"))),
        (1, Value));

    private static readonly Gen<JsonText> EmbeddingInput = Pick(
        (5, Gen.OneOf("hello", "The quick brown fox", "ünïcödé ✓", "").Select(Str)),
        (2, JsonArray(Gen.String[Gen.Char['a', 'z'], 1, 10].Select(Str), 1, 3)),
        (3, JsonArray(Part, 1, 3)),
        (1, Lits("[1,2,3]", "[[1,2]]", "[]", "[null]", "[{}]")));

    private static readonly Gen<JsonText> Message =
        from role in Pick((6, Gen.Const(Str("user"))), (1, Gen.OneOf("assistant", "system", "tool", "wizard").Select(Str)), (1, Value))
        from content in Pick(
            (4, Gen.OneOf("hi", "", "{\"a\":1}", "\u00e9\u4e2d\U0001F600").Select(Str)),
            (2, MediaUrl.Select(u => Lit("[{\"type\":\"text\",\"text\":\"look\"},{\"type\":\"image_url\",\"image_url\":{\"url\":" + JsonSerializer.Serialize(u) + "}}]"))),
            (1, Value))
        select new JsonText([.. "{\"role\":"u8, .. role.Bytes, .. ",\"content\":"u8, .. content.Bytes, (byte)'}']);

    private static readonly Gen<JsonText> Messages = Pick(
        (6, Gen.Const(Lit("[{\"role\":\"user\",\"content\":\"hi\"}]"))),
        (3, Message.Array[1, 3].Select(m => new JsonText([(byte)'[', .. m.SelectMany((x, i) => i == 0 ? x.Bytes : [(byte)',', .. x.Bytes]), (byte)']']))),
        (1, Lits("[]", "[null]", "[1]")));

    private static Gen<FuzzRequest> ChatCompletion =>
        from body in MutatedObject(
            [
                ("model", Pick((12, Gen.Const(Str(ChatModel))), (1, Gen.OneOf(EmbedModel, "gpt-4o").Select(Str)))),
                ("messages", Messages),
                ("max_tokens", Gen.Int[1, 3].Select(i => Lit(i.ToString(System.Globalization.CultureInfo.InvariantCulture)))),
            ],
            [
                ("temperature", Gen.Double[0, 2].Select(d => Lit(d.ToString("R", System.Globalization.CultureInfo.InvariantCulture)))),
                ("top_p", Lits("0.5", "1", "0")),
                ("seed", Lits("1", "-5", "9223372036854775807")),
                ("stop", Lits("\"\\n\"", "[\"a\",\"b\"]", "[]", "[\"\"]")),
                ("user", Lits("\"u-1\"", "\"\"", "\"a\\u0000b\"")),
                ("stream", Lits("true", "false")),
                ("response_format", Lits("{\"type\":\"json_object\"}", "{\"type\":\"text\"}",
                    "{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"n\",\"schema\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":[\"a\"]}}}",
                    "{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"n\",\"schema\":{\"type\":\"object\",\"patternProperties\":{\"x\":{}}}}}")),
                ("reasoning_effort", Lits("\"none\"", "\"low\"", "\"extreme\"")),
                ("tools", Lits("[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"string\"}}}}}]",
                    "[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\",\"properties\":{\"x\":{\"$ref\":\"#/x\"}}}}}]", "[]")),
                ("tool_choice", Lits("\"auto\"", "\"required\"", "{\"type\":\"function\",\"function\":{\"name\":\"f\"}}")),
                ("n", Lits("1", "2")),
                ("parallel_tool_calls", Lits("true", "false")),
            ])
        select new FuzzRequest("POST", "/v1/chat/completions", [], body);

    private static Gen<FuzzRequest> Embedding(string path) =>
        from body in MutatedObject(
            [
                ("model", Pick((12, Gen.Const(Str(EmbedModel))), (1, Gen.OneOf(ChatModel, "text-embedding-3-small").Select(Str)))),
                ("input", EmbeddingInput),
            ],
            [
                ("dimensions", Lits("1024", "2048", "512", "0", "-1")),
                ("encoding_format", Lits("\"float\"", "\"base64\"", "\"int8\"")),
                ("user", Gen.OneOf("u-1", "", new string('u', 300)).Select(Str)),
            ])
        select new FuzzRequest("POST", path, [], body);

    private static readonly string[] UnknownKeys = ["bogus", "functions", "logprobs", "MODEL", "model ", "", "__proto__", "input", "model"];

    private enum Corruption { None, Truncate, FlipByte, Garbage }

    private sealed record MutationStep(int Kind, double Where, JsonText Value, string Key);

    private static readonly Gen<MutationStep> Mutation =
        from kind in Gen.Frequency((5, 0), (1, 1), (2, 2), (1, 3), (1, 4), (1, 5))
        from at in Gen.Double[0, 1]
        from value in Value
        from key in Gen.OneOf(UnknownKeys)
        select new MutationStep(kind, at, value, key);

    /// <summary>
    /// An object from required and optional fields (a random subset of the optional ones), then up to three mutations:
    /// a value replaced by <see cref="Value"/>, a key repeated (plainly or spelled with escapes), an unknown key added, a
    /// field dropped, a key that is not text; and sometimes the bytes themselves cut short, corrupted or padded with
    /// garbage. Mostly still JSON, so most requests get past the parser and exercise the field rules.
    /// </summary>
    private static Gen<byte[]> MutatedObject((string Key, Gen<JsonText> Value)[] required, (string Key, Gen<JsonText> Value)[] optional) =>
        from requiredValues in Sequence(required.Select(r => r.Value))
        from optionalPicks in Gen.Bool.Array[optional.Length]
        from optionalValues in Sequence(optional.Select(o => o.Value))
        from mutations in Mutation.Array[0, 3]
        from corruption in Gen.Frequency((12, Corruption.None), (1, Corruption.Truncate), (1, Corruption.FlipByte), (1, Corruption.Garbage))
        from position in Gen.Double[0, 1]
        from garbage in Garbage
        select Render(
            [.. required.Select((r, i) => (r.Key, requiredValues[i])),
             .. optional.Select((o, i) => (o.Key, optionalValues[i])).Where((_, i) => optionalPicks[i])],
            mutations, corruption, position, garbage);

    private static byte[] Render(List<(string Key, JsonText Value)> fields, MutationStep[] mutations, Corruption corruption, double position, byte[] garbage)
    {
        var names = fields.Select(f => f.Key).ToList();
        var keys = names.Select(k => Encoding.UTF8.GetBytes(JsonSerializer.Serialize(k))).ToList();
        var values = fields.Select(f => f.Value.Bytes).ToList();
        foreach (var m in mutations)
        {
            var at = keys.Count == 0 ? 0 : Math.Min(keys.Count - 1, (int)(m.Where * keys.Count));
            switch (m.Kind)
            {
                case 0 when keys.Count > 0: // wrong type / hostile value
                    values[at] = m.Value.Bytes;
                    break;
                case 1 when keys.Count > 0: // the same key again
                    keys.Add(keys[at]);
                    values.Add(m.Value.Bytes);
                    names.Add(names[at]);
                    break;
                case 2: // an unknown (or differently spelled) key
                    keys.Add(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(m.Key)));
                    values.Add(m.Value.Bytes);
                    names.Add(m.Key);
                    break;
                case 3 when keys.Count > 0 && names[at] != "max_tokens": // a field dropped (never the completion bound: generation stays short)
                    keys.RemoveAt(at);
                    values.RemoveAt(at);
                    names.RemoveAt(at);
                    break;
                case 4 when keys.Count > 0: // a key that is not text
                    keys[at] = m.Where < 0.5 ? "\"\\ud800\""u8.ToArray() : [(byte)'"', 0xC3, 0x28, (byte)'"'];
                    break;
                case 5 when keys.Count > 0: // the same key spelled with escapes
                    keys.Add(Encoding.UTF8.GetBytes("\"" + string.Concat(names[at].Select(c => $"\\u{(int)c:x4}")) + "\""));
                    values.Add(m.Value.Bytes);
                    names.Add(names[at]);
                    break;
            }
        }
        using var body = new MemoryStream();
        body.WriteByte((byte)'{');
        for (var i = 0; i < keys.Count; i++)
        {
            if (i > 0)
            {
                body.WriteByte((byte)',');
            }
            body.Write(keys[i]);
            body.WriteByte((byte)':');
            body.Write(values[i]);
        }
        body.WriteByte((byte)'}');
        var bytes = body.ToArray();
        var cut = (int)(position * bytes.Length);
        return corruption switch
        {
            Corruption.Truncate => bytes[..cut],
            Corruption.FlipByte when cut < bytes.Length => [.. bytes[..cut], (byte)(bytes[cut] ^ 0x80), .. bytes[(cut + 1)..]],
            Corruption.Garbage => [.. bytes[..cut], .. garbage, .. bytes[cut..]],
            _ => bytes,
        };
    }
}
