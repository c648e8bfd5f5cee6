using System.Net.Http.Json;
using Aurous.Api.Chat;
using Aurous.Api.Extensions;
using Aurous.Inference.Contracts;
using Aurous.Models;

namespace Aurous.Api.Inference;

/// <summary>
/// The context window the inference worker actually serves for each model (<c>GET /internal/models</c>): the nominal
/// one, or less where the worker's memory budget cannot hold a generation that long. Asked for when first needed (at
/// most <see cref="AskTimeout"/>) and again in the background once <see cref="FreshFor"/> has passed; while the worker
/// cannot be asked, the last answer stays in use (and, with none, the nominal window: the worker still refuses what it
/// cannot serve, and the API asks again after <see cref="RetryAfter"/>). This lets the API refuse an over-long request
/// in milliseconds, before any hold or rate-limit token is taken.
/// </summary>
public sealed class ServedContextWindows(IHttpClientFactory http, ModelTokenizers tokenizers, ILogger<ServedContextWindows> log, TimeProvider time)
{
    public static readonly TimeSpan FreshFor = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan RetryAfter = TimeSpan.FromSeconds(5);
    public static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(2);

    private readonly Lock _gate = new();
    private volatile Snapshot _snapshot = new(new Dictionary<string, int>(), DateTimeOffset.MinValue);
    private Task<Snapshot>? _refresh;

    private sealed record Snapshot(IReadOnlyDictionary<string, int> Windows, DateTimeOffset ValidUntil);

    /// <summary>The served context window of <paramref name="modelId"/>; null when the worker has not reported it (not loaded, unreachable).</summary>
    public async ValueTask<int?> GetAsync(string modelId, CancellationToken ct) =>
        (await CurrentAsync(ct)).Windows.TryGetValue(modelId, out var window) ? window : null;

    /// <summary>
    /// Checks a parsed chat request against the served window: 400 <c>context_length_exceeded</c> (OpenAI's wording)
    /// when prompt + max_tokens do not fit; a max_tokens the client did not set is shrunk to the room left.
    /// </summary>
    public async ValueTask<(ChatRequest Request, ApiError? Error)> FitAsync(ChatRequest request, JsonElement body, CancellationToken ct)
    {
        var manifest = request.Model.Manifest;
        if (await GetAsync(manifest.Id, ct) is not { } window || window >= manifest.ContextWindow)
        {
            return (request, null); // the nominal window, already checked while parsing
        }
        var markers = request.ReasoningBudget > 0 && tokenizers.For(request.Model) is { } tokenizer
            ? tokenizer.CountTokens(ReasoningBlock.Open) + tokenizer.CountTokens(ReasoningBlock.Close)
            : 0;
        long prompt = request.PromptTokenIds.Length + markers;
        if (prompt + 1 > window)
        {
            return (request, Refusal(window, prompt, null));
        }
        if (prompt + request.MaxTokens <= window)
        {
            return (request, null);
        }
        return MaxTokensRequested(body)
            ? (request, Refusal(window, prompt, request.MaxTokens))
            : (request with { MaxTokens = (int)(window - prompt) }, null);
    }

    private static ApiError Refusal(int window, long prompt, long? completion) =>
        ApiError.InvalidRequest(ChatLimits.ContextLengthExceeded, ChatLimits.ContextLengthMessage(window, prompt, completion));

    private static bool MaxTokensRequested(JsonElement body) =>
        body.ValueKind == JsonValueKind.Object
        && (body.TryGetProperty("max_completion_tokens", out var a) && a.ValueKind != JsonValueKind.Null
            || body.TryGetProperty("max_tokens", out var b) && b.ValueKind != JsonValueKind.Null);

    private async ValueTask<Snapshot> CurrentAsync(CancellationToken ct)
    {
        var snapshot = _snapshot;
        if (time.GetUtcNow() < snapshot.ValidUntil)
        {
            return snapshot;
        }
        Task<Snapshot> refresh;
        lock (_gate)
        {
            if (_refresh is null || _refresh.IsCompleted)
            {
                _refresh = RefreshAsync();
            }
            refresh = _refresh;
        }
        // Once the worker has answered, a request never waits for it again: the last answer serves while a fresh one is asked for.
        return snapshot.Windows.Count > 0 ? snapshot : await refresh.WaitAsync(ct);
    }

    private async Task<Snapshot> RefreshAsync()
    {
        try
        {
            using var client = http.CreateClient(ApiServiceExtensions.InferenceWorkerClient);
            using var deadline = new CancellationTokenSource(AskTimeout);
            var list = await client.GetFromJsonAsync<InternalModelList>(InternalRoutes.Models, InternalJson.Options, deadline.Token);
            var windows = (list?.Models ?? []).ToDictionary(m => m.Id, m => m.ServedContextWindow);
            // A worker still loading lists nothing yet: ask again soon.
            return _snapshot = new Snapshot(windows, time.GetUtcNow() + (windows.Count > 0 ? FreshFor : RetryAfter));
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or JsonException or NotSupportedException)
        {
            log.LogWarning("Could not read the served context windows from the inference worker: {Reason}", ex.Message);
            return _snapshot = _snapshot with { ValidUntil = time.GetUtcNow() + RetryAfter };
        }
    }
}
