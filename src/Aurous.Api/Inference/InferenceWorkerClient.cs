using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Aurous.Api.Extensions;
using Aurous.Api.Pipeline;
using Aurous.Inference.Contracts;

namespace Aurous.Api.Inference;

/// <summary>The API's side of the internal HTTP contract with the InferenceWorker.</summary>
public sealed class InferenceWorkerClient(IHttpClientFactory http, ILogger<InferenceWorkerClient> log)
{
    /// <summary>One combined embedding for the parts, or the error to answer with (the worker's 4xx names the part).</summary>
    public async Task<(InternalEmbeddingResponse? Result, ApiError? Error)> EmbedAsync(InternalEmbeddingRequest request, CancellationToken ct)
    {
        using var client = http.CreateClient(ApiServiceExtensions.InferenceWorkerClient);
        HttpResponseMessage response;
        try
        {
            response = await client.PostAsJsonAsync(InternalRoutes.Embeddings, request, InternalJson.Options, ct);
        }
        catch (HttpRequestException ex)
        {
            log.LogError(ex, "The inference worker is unreachable");
            return (null, Unavailable());
        }
        catch (TaskCanceledException) when (!ct.IsCancellationRequested)
        {
            return (null, new ApiError(504, "api_error", "inference_timeout", "The model did not answer in time. Retry shortly."));
        }
        using (response)
        {
            if (response.IsSuccessStatusCode)
            {
                return (await response.Content.ReadFromJsonAsync<InternalEmbeddingResponse>(InternalJson.Options, ct), null);
            }
            var error = await ReadErrorAsync(response, ct);
            return response.StatusCode switch
            {
                HttpStatusCode.BadRequest or HttpStatusCode.RequestEntityTooLarge or HttpStatusCode.UnprocessableEntity =>
                    (null, new ApiError(400, "invalid_request", error?.Code ?? "invalid_input", error?.Message ?? "The input could not be processed.")),
                _ => LogUnavailable(response.StatusCode, error),
            };
        }
    }

    /// <summary>
    /// Starts a chat generation. On success the events stream as the worker produces them (NDJSON, one per line);
    /// dispose the returned stream to stop reading (and, by closing the connection, stop the generation).
    /// </summary>
    public async Task<(WorkerChatStream? Stream, ApiError? Error)> StartChatAsync(InternalChatRequest request, CancellationToken ct)
    {
        var client = http.CreateClient(ApiServiceExtensions.InferenceWorkerClient);
        client.Timeout = Timeout.InfiniteTimeSpan; // a long generation is not a hung one; client disconnects cancel it
        HttpResponseMessage response;
        try
        {
            using var message = new HttpRequestMessage(HttpMethod.Post, InternalRoutes.ChatCompletions) { Content = JsonContent.Create(request, options: InternalJson.Options) };
            response = await client.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, ct);
        }
        catch (HttpRequestException ex)
        {
            client.Dispose();
            log.LogError(ex, "The inference worker is unreachable");
            return (null, Unavailable());
        }
        if (!response.IsSuccessStatusCode)
        {
            using (response)
            using (client)
            {
                var error = await ReadErrorAsync(response, ct);
                return response.StatusCode is HttpStatusCode.BadRequest
                    ? (null, new ApiError(400, "invalid_request", error?.Code ?? "invalid_request", error?.Message ?? "The request could not be processed."))
                    : (null, LogUnavailable(response.StatusCode, error).Item2);
            }
        }
        return (new WorkerChatStream(client, response), null);
    }

    // Internal details (addresses, start-up failures) go to the log, never to the client.
    private static ApiError Unavailable() => new(503, "api_error", "model_unavailable", "The model is temporarily unavailable. Retry shortly.");

    private (InternalEmbeddingResponse?, ApiError?) LogUnavailable(HttpStatusCode status, InternalError? error)
    {
        log.LogError("The inference worker answered {Status}: {Code} {Message}", (int)status, error?.Code, error?.Message);
        return (null, Unavailable());
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
public sealed class WorkerChatStream(HttpClient client, HttpResponseMessage response) : IAsyncDisposable
{
    /// <summary>
    /// The worker's events. A worker that dies or breaks the stream (connection lost, an unreadable line, the end without
    /// a <c>done</c>) ends it with an <c>error</c> event, as a worker that fails cleanly does; only the caller's
    /// cancellation surfaces as an exception.
    /// </summary>
    public async IAsyncEnumerable<InternalChatEvent> ReadAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        Stream? body = null;
        StreamReader? reader = null;
        try
        {
            string? failure = null;
            var ended = false;
            while (!ended)
            {
                InternalChatEvent? next = null;
                try
                {
                    reader ??= new StreamReader(body = await response.Content.ReadAsStreamAsync(ct));
                    var line = await reader.ReadLineAsync(ct);
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
                    failure = $"the worker's stream broke: {ex.Message}";
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
