using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Aurous.Api.Extensions;
using Aurous.Inference.Contracts;
using Microsoft.Extensions.Options;

namespace Aurous.Api.Inference;

/// <summary>
/// The API's side of the internal HTTP contract with the InferenceWorker. Every call is bounded by
/// <see cref="InferenceWorkerOptions"/>: connecting, the response headers, and each line of a streamed chat; and every
/// call ends as soon as <see cref="WorkerLiveness"/> finds the worker down (and none starts while it is).
/// </summary>
public sealed class InferenceWorkerClient(IHttpClientFactory http, IOptions<InferenceWorkerOptions> options, WorkerLiveness liveness, ILogger<InferenceWorkerClient> log)
{
    private readonly InferenceWorkerOptions _options = options.Value;

    /// <summary>
    /// One combined embedding for the parts, or the error to answer with (the worker's 4xx names the part). The vector
    /// arrives as <see cref="InternalEmbeddingFrame"/> (its float32 bytes); a worker that answers JSON is read too.
    /// </summary>
    public async Task<(WorkerEmbedding? Result, ApiError? Error)> EmbedAsync(InternalEmbeddingRequest request, CancellationToken ct)
    {
        if (liveness.IsDown)
        {
            return (null, Unavailable());
        }
        using var client = CreateClient();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct, liveness.Token);
        deadline.CancelAfter(_options.ResponseTimeout);
        try
        {
            using var message = new HttpRequestMessage(HttpMethod.Post, InternalRoutes.Embeddings) { Content = JsonContent.Create(request, options: InternalJson.Options) };
            message.Headers.Accept.Add(FrameMediaType);
            using var response = await client.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, deadline.Token);
            liveness.Heard();
            if (response.IsSuccessStatusCode)
            {
                return await ReadEmbeddingAsync(response, deadline.Token) is { } embedding && embedding.AllFinite()
                    ? (embedding, null)
                    : (null, LogUnavailable(response.StatusCode, new InternalError("unreadable_embedding", "the worker's embedding could not be read")));
            }
            var error = await ReadErrorAsync(response, deadline.Token);
            return response.StatusCode switch
            {
                HttpStatusCode.BadRequest or HttpStatusCode.RequestEntityTooLarge or HttpStatusCode.UnprocessableEntity =>
                    (null, new ApiError(400, "invalid_request", error?.Code ?? "invalid_input", error?.Message ?? "The input could not be processed.")),
                _ => (null, LogUnavailable(response.StatusCode, error)),
            };
        }
        catch (Exception ex) when (!ct.IsCancellationRequested && ex is HttpRequestException or IOException or OperationCanceledException)
        {
            return (null, Failed(ex, deadline.IsCancellationRequested));
        }
    }

    private static readonly MediaTypeWithQualityHeaderValue FrameMediaType = new(InternalEmbeddingFrame.ContentType);

    private static async Task<WorkerEmbedding?> ReadEmbeddingAsync(HttpResponseMessage response, CancellationToken ct)
    {
        if (response.Content.Headers.ContentType?.MediaType == InternalEmbeddingFrame.ContentType)
        {
            var frame = await response.Content.ReadAsByteArrayAsync(ct);
            return InternalEmbeddingFrame.TryRead(frame, out var usage, out var vector) ? new WorkerEmbedding(usage, frame.AsMemory(vector)) : null;
        }
        try
        {
            return await response.Content.ReadFromJsonAsync<InternalEmbeddingResponse>(InternalJson.Options, ct) is { } json ? WorkerEmbedding.From(json) : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// Starts a chat generation. On success the events stream as the worker produces them (NDJSON, one per line);
    /// dispose the returned stream to stop reading (and, by closing the connection, stop the generation).
    /// </summary>
    public async Task<(WorkerChatStream? Stream, ApiError? Error)> StartChatAsync(InternalChatRequest request, CancellationToken ct)
    {
        if (liveness.IsDown)
        {
            return (null, Unavailable());
        }
        var alive = liveness.Token;
        var client = CreateClient();
        HttpResponseMessage response;
        using (var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct, alive))
        {
            deadline.CancelAfter(_options.ResponseTimeout);
            try
            {
                using var message = new HttpRequestMessage(HttpMethod.Post, InternalRoutes.ChatCompletions) { Content = JsonContent.Create(request, options: InternalJson.Options) };
                response = await client.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, deadline.Token);
                liveness.Heard();
            }
            catch (Exception ex) when (!ct.IsCancellationRequested && ex is HttpRequestException or OperationCanceledException)
            {
                client.Dispose();
                return (null, Failed(ex, deadline.IsCancellationRequested));
            }
            catch
            {
                client.Dispose();
                throw;
            }
            if (!response.IsSuccessStatusCode)
            {
                using (response)
                using (client)
                {
                    try
                    {
                        var error = await ReadErrorAsync(response, deadline.Token);
                        return response.StatusCode is HttpStatusCode.BadRequest
                            ? (null, new ApiError(400, "invalid_request", error?.Code ?? "invalid_request", error?.Message ?? "The request could not be processed."))
                            : (null, LogUnavailable(response.StatusCode, error));
                    }
                    catch (Exception ex) when (!ct.IsCancellationRequested && ex is HttpRequestException or IOException or OperationCanceledException)
                    {
                        return (null, Failed(ex, deadline.IsCancellationRequested));
                    }
                }
            }
        }
        return (new WorkerChatStream(client, response, _options.StreamIdleTimeout, alive, liveness.Heard), null);
    }

    /// <summary>A client without HttpClient's own timeout: <see cref="InferenceWorkerOptions"/> bound each stage instead
    /// (a long generation is not a hung one; a silent stream is).</summary>
    private HttpClient CreateClient()
    {
        var client = http.CreateClient(ApiServiceExtensions.InferenceWorkerClient);
        client.Timeout = Timeout.InfiniteTimeSpan;
        return client;
    }

    /// <summary>The worker could not be reached (refused, connect timeout, reset) or did not answer in time.</summary>
    private ApiError Failed(Exception ex, bool responseTimedOut)
    {
        if (liveness.IsDown)
        {
            log.LogError("The inference worker stopped answering liveness pings during a call");
            return Unavailable();
        }
        if (responseTimedOut)
        {
            log.LogError("The inference worker did not answer within {Timeout}", _options.ResponseTimeout);
            return new ApiError(504, "api_error", "inference_timeout", "The model did not answer in time. Retry shortly.");
        }
        log.LogError(ex, "The inference worker is unreachable");
        return Unavailable();
    }

    // Internal details (addresses, start-up failures) go to the log, never to the client.
    private static ApiError Unavailable() => new(503, "api_error", "model_unavailable", "The model is temporarily unavailable. Retry shortly.");

    private ApiError LogUnavailable(HttpStatusCode status, InternalError? error)
    {
        log.LogError("The inference worker answered {Status}: {Code} {Message}", (int)status, error?.Code, error?.Message);
        return Unavailable();
    }

    private static async Task<InternalError?> ReadErrorAsync(HttpResponseMessage response, CancellationToken ct)
    {
        try
        {
            return (await response.Content.ReadFromJsonAsync<InternalErrorResponse>(InternalJson.Options, ct))?.Error;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>The worker's NDJSON generation stream; disposing it closes the connection, which stops the generation.</summary>
public sealed class WorkerChatStream(
    HttpClient client, HttpResponseMessage response, TimeSpan idleTimeout, CancellationToken workerAlive = default, Action? heard = null) : IAsyncDisposable
{
    /// <summary>
    /// The worker's events. A worker that dies or breaks the stream (connection lost, an unreadable line, silence longer
    /// than the idle timeout, the end without a <c>done</c>, the worker declared down by its liveness monitor) ends it
    /// with an <c>error</c> event, as a worker that fails
    /// cleanly does; only the caller's cancellation surfaces as an exception.
    /// </summary>
    public async IAsyncEnumerable<InternalChatEvent> ReadAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        Stream? body = null;
        StreamReader? reader = null;
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(ct, workerAlive);
        try
        {
            string? failure = null;
            var ended = false;
            while (!ended)
            {
                InternalChatEvent? next = null;
                try
                {
                    // Re-armed before every line: the timeout bounds the silence between two lines, not the generation.
                    idle.CancelAfter(idleTimeout);
                    reader ??= new StreamReader(body = await response.Content.ReadAsStreamAsync(idle.Token));
                    var line = await reader.ReadLineAsync(idle.Token);
                    heard?.Invoke();
                    if (line is null)
                    {
                        failure = "the worker's stream ended without a result";
                        break;
                    }
                    if (line.Length == 0)
                    {
                        continue;
                    }
                    next = JsonSerializer.Deserialize<InternalChatEvent>(line, InternalJson.Options);
                    if (next is null)
                    {
                        failure = "the worker sent an empty event";
                        break;
                    }
                }
                catch (Exception ex) when (!ct.IsCancellationRequested && ex is IOException or HttpRequestException or JsonException or OperationCanceledException)
                {
                    failure = workerAlive.IsCancellationRequested
                        ? "the worker stopped answering liveness pings"
                        : idle.IsCancellationRequested
                            ? $"the worker's stream sent nothing for {idleTimeout}"
                            : $"the worker's stream broke: {ex.Message}";
                    break;
                }
                ended = next.IsFinal;
                yield return next;
            }
            if (failure is not null)
            {
                yield return InternalChatEvent.Error("worker_failed", failure);
            }
        }
        finally
        {
            reader?.Dispose();
            if (body is not null)
            {
                await body.DisposeAsync();
            }
        }
    }

    public ValueTask DisposeAsync()
    {
        response.Dispose();
        client.Dispose();
        return ValueTask.CompletedTask;
    }
}
