using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Aurous.Faults.Tests;

/// <summary>One client request's outcome: status, error code, Retry-After, when it started and how long it took.</summary>
public sealed record Outcome(int Status, string? Code, string? RetryAfter, TimeSpan StartedAt, TimeSpan Took)
{
    public string Label => Code is null ? Status.ToString() : $"{Status} {Code}";
}

/// <summary>Collects outcomes against one clock; the figures count them by status and code.</summary>
public sealed class OutcomeLog
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    public ConcurrentQueue<Outcome> All { get; } = new();

    public TimeSpan Now => _clock.Elapsed;

    public async Task<Outcome> SendAsync(HttpClient http, Func<HttpRequestMessage> request, CancellationToken ct = default)
    {
        var started = _clock.Elapsed;
        Outcome outcome;
        try
        {
            using var message = request();
            using var response = await http.SendAsync(message, ct);
            var body = await response.Content.ReadAsStringAsync(ct);
            outcome = new Outcome((int)response.StatusCode, ErrorCode(body), response.Headers.RetryAfter?.ToString(), started, _clock.Elapsed - started);
        }
        catch (HttpRequestException ex)
        {
            // The connection itself failed: recorded as status 0, which no test accepts.
            outcome = new Outcome(0, ex.Message, null, started, _clock.Elapsed - started);
        }
        All.Enqueue(outcome);
        return outcome;
    }

    /// <summary>"37 × 200, 13 × 503 model_unavailable".</summary>
    public static string Count(IEnumerable<Outcome> outcomes) =>
        string.Join(", ", outcomes.GroupBy(o => o.Label).OrderBy(g => g.Key).Select(g => $"{g.Count()} × {g.Key}"));

    public static string? ErrorCode(string body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            return doc.RootElement.TryGetProperty("error", out var e) ? e.GetProperty("code").GetString() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public static HttpRequestMessage Embedding() => new(HttpMethod.Post, "/v1/embeddings")
    {
        Content = new StringContent("""{"model":"aurous-embed-vision-1.0","input":"The quick brown fox jumps over the lazy dog."}""", Encoding.UTF8, "application/json"),
    };

    public static HttpRequestMessage Chat(int maxTokens = 8, bool longAnswer = false) => new(HttpMethod.Post, "/v1/chat/completions")
    {
        Content = new StringContent(longAnswer ? LongChat(stream: false) : $$"""{"model":"aurous-grow-2.0-pro","messages":[{"role":"user","content":"hi"}],"max_tokens":{{maxTokens}}}""",
            Encoding.UTF8, "application/json"),
    };

    /// <summary>A chat the schema forces to run for thousands of tokens, so it is still running when a fault strikes.</summary>
    public static string LongChat(bool stream) => """
        {"model":"aurous-grow-2.0-pro","messages":[{"role":"user","content":"Count."}],"stream":STREAM,"max_tokens":100000,
         "response_format":{"type":"json_schema","json_schema":{"name":"numbers","schema":{"type":"object","properties":{"n":{"type":"array","items":{"type":"integer"},"minItems":1024}},"required":["n"],"additionalProperties":false}}}}
        """.Replace("STREAM", stream ? "true" : "false", StringComparison.Ordinal);

    public static readonly HashSet<HttpStatusCode> Never = [HttpStatusCode.InternalServerError];
}
