using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Aurous.Api.Embeddings;
using Aurous.Api.Inference;
using Aurous.Api.Metering;
using Aurous.Inference.Contracts;
using Microsoft.Extensions.DependencyInjection;
using static Aurous.Api.Tests.InferenceWorkerClientTests;

namespace Aurous.Api.Tests;

/// <summary>The embedding's hop from the worker to the client: float32 frames, read and written without loss.</summary>
public sealed class WorkerEmbeddingTests
{
    private static readonly InternalEmbeddingRequest Request = new() { Model = "m", Parts = [new() { Type = "text", TokenIds = [1] }] };
    private static readonly InternalEmbeddingUsage Usage = new(7, 256, 128, 1, 2);

    private static float[] Vector(int n, int seed = 1)
    {
        var random = new Random(seed);
        var v = new float[n];
        for (var i = 0; i < n; i++)
        {
            v[i] = (float)((random.NextDouble() - 0.5) * Math.Pow(10, random.Next(-40, 39)));
        }
        v[0] = float.Epsilon;
        v[1] = -0f;
        v[2] = float.MaxValue;
        v[3] = -float.MinValue;
        return v;
    }

    [Fact]
    public void A_frame_reads_back_its_usage_and_exact_bytes_and_a_broken_one_is_refused()
    {
        var vector = Vector(2048);
        var frame = new byte[InternalEmbeddingFrame.Length(vector.Length)];
        InternalEmbeddingFrame.Write(frame, vector, Usage);

        InternalEmbeddingFrame.TryRead(frame, out var usage, out var range).ShouldBeTrue();
        usage.ShouldBe(Usage);
        new WorkerEmbedding(usage, frame.AsMemory(range)).Floats().ToArray().ShouldBe(vector);

        InternalEmbeddingFrame.TryRead(frame.AsSpan(0, frame.Length - 1), out _, out _).ShouldBeFalse();
        InternalEmbeddingFrame.TryRead(frame.AsSpan(0, 10), out _, out _).ShouldBeFalse();
        InternalEmbeddingFrame.TryRead([.. frame, 0, 0, 0, 0], out _, out _).ShouldBeFalse();
    }

    [Fact]
    public void The_float_format_reads_back_as_exactly_the_same_floats()
    {
        var vector = Vector(4096, seed: 7);
        var frame = new byte[InternalEmbeddingFrame.Length(vector.Length)];
        InternalEmbeddingFrame.Write(frame, vector, Usage);
        var embedding = new WorkerEmbedding(Usage, frame.AsMemory(InternalEmbeddingFrame.HeaderBytes));
        var usage = UsageBlock.For("aurous-embed-vision", new TokenUsage(7, 256, 128), new Charge(0.5m, 0.1m, 0.2m, 0.2m));

        using var body = JsonDocument.Parse(EmbeddingResponseWriter.Render("aurous-embed-vision", embedding, usage));

        var data = body.RootElement.GetProperty("data")[0];
        data.GetProperty("embedding").EnumerateArray().Select(e => e.GetSingle()).ToArray().ShouldBe(vector);
        data.GetProperty("index").GetInt32().ShouldBe(0);
        body.RootElement.GetProperty("model").GetString().ShouldBe("aurous-embed-vision");
    }

    [Fact]
    public async Task The_client_asks_for_a_frame_and_reads_it()
    {
        var vector = Vector(2048, seed: 3);
        var frame = new byte[InternalEmbeddingFrame.Length(vector.Length)];
        InternalEmbeddingFrame.Write(frame, vector, Usage);
        var request = new TaskCompletionSource<string>();
        await using var server = RawServer.Start(async socket =>
        {
            request.TrySetResult(await RawServer.ReadHeadersAsync(socket));
            await Answer(socket, "200 OK", InternalEmbeddingFrame.ContentType, frame);
        });
        using var services = Client(server.Port);

        var (embedding, error) = await services.GetRequiredService<InferenceWorkerClient>().EmbedAsync(Request, CancellationToken.None);

        error.ShouldBeNull();
        embedding!.Usage.ShouldBe(Usage);
        embedding.Floats().ToArray().ShouldBe(vector);
        (await request.Task).ShouldContain("Accept: " + InternalEmbeddingFrame.ContentType, Case.Insensitive);
    }

    [Fact]
    public async Task A_worker_that_answers_json_is_read_too()
    {
        var vector = Vector(16, seed: 5);
        var json = JsonSerializer.SerializeToUtf8Bytes(new InternalEmbeddingResponse("m", vector, Usage), InternalJson.Options);
        await using var server = RawServer.Start(async socket =>
        {
            await RawServer.ReadHeadersAsync(socket);
            await Answer(socket, "200 OK", "application/json", json);
        });
        using var services = Client(server.Port);

        var (embedding, error) = await services.GetRequiredService<InferenceWorkerClient>().EmbedAsync(Request, CancellationToken.None);

        error.ShouldBeNull();
        embedding!.Usage.ShouldBe(Usage);
        embedding.Floats().ToArray().ShouldBe(vector);
    }

    [Theory]
    [InlineData("truncated")]
    [InlineData("nan")]
    public async Task A_frame_that_cannot_be_answered_is_503_model_unavailable(string fault)
    {
        var vector = Vector(8);
        if (fault == "nan")
        {
            vector[5] = float.NaN;
        }
        var frame = new byte[InternalEmbeddingFrame.Length(vector.Length)];
        InternalEmbeddingFrame.Write(frame, vector, Usage);
        var body = fault == "truncated" ? frame[..^3] : frame;
        await using var server = RawServer.Start(async socket =>
        {
            await RawServer.ReadHeadersAsync(socket);
            await Answer(socket, "200 OK", InternalEmbeddingFrame.ContentType, body);
        });
        using var services = Client(server.Port);

        var (embedding, error) = await services.GetRequiredService<InferenceWorkerClient>().EmbedAsync(Request, CancellationToken.None);

        embedding.ShouldBeNull();
        (error!.Status, error.Type, error.Code).ShouldBe((503, "api_error", "model_unavailable"));
    }

    [Theory]
    [InlineData("400 Bad Request", 400, "invalid_request", "media_decode_failed")]
    [InlineData("404 Not Found", 503, "api_error", "model_unavailable")]
    [InlineData("503 Service Unavailable", 503, "api_error", "model_unavailable")]
    public async Task The_workers_errors_keep_their_envelopes(string statusLine, int status, string type, string code)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(
            new InternalErrorResponse(new InternalError(statusLine.StartsWith("400") ? "media_decode_failed" : "model_not_found", "input[0] (image_url): no", 0)), InternalJson.Options);
        await using var server = RawServer.Start(async socket =>
        {
            await RawServer.ReadHeadersAsync(socket);
            await Answer(socket, statusLine, "application/json", json);
        });
        using var services = Client(server.Port);

        var (embedding, error) = await services.GetRequiredService<InferenceWorkerClient>().EmbedAsync(Request, CancellationToken.None);

        embedding.ShouldBeNull();
        (error!.Status, error.Type, error.Code).ShouldBe((status, type, code));
    }

    private static async Task Answer(Socket socket, string statusLine, string contentType, byte[] body)
    {
        var head = Encoding.ASCII.GetBytes($"HTTP/1.1 {statusLine}\r\nContent-Type: {contentType}\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n");
        await socket.SendAsync(head.Concat(body).ToArray());
        socket.Shutdown(SocketShutdown.Send);
    }
}
