using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Aurous.Api.Extensions;
using Aurous.Api.Inference;
using Aurous.Inference.Contracts;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Aurous.Api.Tests;

/// <summary>The API's worker client against workers that are down, hung, or fall silent mid-stream (raw sockets, no worker).</summary>
public sealed class InferenceWorkerClientTests
{
    private const string Key = "client-tests-internal-api-key";
    private static readonly InternalEmbeddingRequest Embedding = new() { Model = "m", Parts = [new() { Type = "text", TokenIds = [1] }] };
    private static readonly InternalChatRequest Chat = new() { Model = "m", PromptTokenIds = [1], MaxTokens = 4, Stop = [] };

    [Fact]
    public async Task A_worker_that_is_down_is_503_model_unavailable_within_two_seconds()
    {
        using var closed = new TcpListener(IPAddress.Loopback, 0);
        closed.Start();
        var port = ((IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop();
        using var services = Client(port);
        var client = services.GetRequiredService<InferenceWorkerClient>();

        var stopwatch = Stopwatch.StartNew();
        var (embedding, embedError) = await client.EmbedAsync(Embedding, CancellationToken.None);
        var (stream, chatError) = await client.StartChatAsync(Chat, CancellationToken.None);

        stopwatch.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(2));
        embedding.ShouldBeNull();
        stream.ShouldBeNull();
        (embedError!.Status, embedError.Code).ShouldBe((503, "model_unavailable"));
        (chatError!.Status, chatError.Code).ShouldBe((503, "model_unavailable"));
    }

    [Fact]
    public async Task A_worker_that_accepts_and_never_answers_times_out_after_the_response_timeout()
    {
        await using var server = RawServer.Start(_ => Task.Delay(Timeout.Infinite));
        using var services = Client(server.Port, ("InferenceWorker:ResponseTimeout", "00:00:00.300"));
        var client = services.GetRequiredService<InferenceWorkerClient>();

        var stopwatch = Stopwatch.StartNew();
        var (_, embedError) = await client.EmbedAsync(Embedding, CancellationToken.None);
        var (stream, chatError) = await client.StartChatAsync(Chat, CancellationToken.None);

        stopwatch.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(2));
        stream.ShouldBeNull();
        (embedError!.Status, embedError.Code).ShouldBe((504, "inference_timeout"));
        (chatError!.Status, chatError.Code).ShouldBe((504, "inference_timeout"));
    }

    [Fact]
    public async Task A_chat_stream_that_goes_silent_ends_with_an_error_event_and_the_key_was_presented()
    {
        var request = new TaskCompletionSource<string>();
        await using var server = RawServer.Start(async socket =>
        {
            request.TrySetResult(await RawServer.ReadHeadersAsync(socket));
            await socket.SendAsync(Encoding.ASCII.GetBytes(
                "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n" +
                Chunk("""{"type":"delta","text":"Hi","completion_tokens":1}""" + "\n")));
            await Task.Delay(Timeout.Infinite);
        });
        using var services = Client(server.Port, ("InferenceWorker:StreamIdleTimeout", "00:00:00.300"));
        var client = services.GetRequiredService<InferenceWorkerClient>();

        var (stream, error) = await client.StartChatAsync(Chat, CancellationToken.None);
        error.ShouldBeNull();
        await using var generation = stream!;
        var events = new List<InternalChatEvent>();
        var stopwatch = Stopwatch.StartNew();
        await foreach (var e in generation.ReadAsync(CancellationToken.None))
        {
            events.Add(e);
        }

        stopwatch.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(2));
        events.Select(e => e.Type).ShouldBe([InternalChatEvent.DeltaType, InternalChatEvent.ErrorType]);
        events[1].Code.ShouldBe("worker_failed");
        events[1].Message!.ShouldContain("sent nothing");
        (await request.Task).ShouldContain($"Authorization: Bearer {Key}\r\n");
    }

    [Theory]
    [InlineData("InferenceWorker:ConnectTimeout", "00:00:00")]
    [InlineData("InferenceWorker:ResponseTimeout", "-00:00:01")]
    [InlineData("InferenceWorker:StreamIdleTimeout", "30.00:00:00")]
    public void Timeouts_that_are_not_positive_durations_are_refused_naming_the_setting(string key, string value)
    {
        using var services = Client(1, (key, value));

        var error = Should.Throw<OptionsValidationException>(() => services.GetRequiredService<IOptions<InferenceWorkerOptions>>().Value);

        error.Message.ShouldContain(key);
    }

    [Fact]
    public void The_defaults_bound_connecting_to_under_two_seconds()
    {
        using var services = Client(1);

        var options = services.GetRequiredService<IOptions<InferenceWorkerOptions>>().Value;

        options.ConnectTimeout.ShouldBeLessThan(TimeSpan.FromSeconds(2));
        options.ResponseTimeout.ShouldBeGreaterThan(TimeSpan.Zero);
        options.StreamIdleTimeout.ShouldBeGreaterThan(TimeSpan.Zero);
    }

    private static string Chunk(string data) => $"{Encoding.UTF8.GetByteCount(data):x}\r\n{data}\r\n";

    /// <summary>The client as the API registers it, pointed at 127.0.0.1:<paramref name="port"/>.</summary>
    internal static ServiceProvider Client(int port, params (string Key, string Value)[] settings)
    {
        var values = new Dictionary<string, string?> { [InternalApiKeyOptions.ConfigurationKey] = Key };
        foreach (var (key, value) in settings)
        {
            values[key] = value;
        }
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(values).Build());
        services.AddLogging();
        services.AddHttpClient(ApiServiceExtensions.InferenceWorkerClient, c => c.BaseAddress = new Uri($"http://127.0.0.1:{port}"))
            .AddInferenceWorkerTimeouts().AddInternalApiKey();
        services.AddSingleton<InferenceWorkerClient>();
        return services.BuildServiceProvider();
    }

    /// <summary>A loopback TCP server that hands each accepted connection to <c>handle</c>, for workers that misbehave.</summary>
    internal sealed class RawServer : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private readonly List<Socket> _sockets = [];

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public static RawServer Start(Func<Socket, Task> handle)
        {
            var server = new RawServer();
            server._listener.Start();
            _ = Task.Run(async () =>
            {
                while (!server._stop.IsCancellationRequested)
                {
                    Socket socket;
                    try
                    {
                        socket = await server._listener.AcceptSocketAsync(server._stop.Token);
                    }
                    catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
                    {
                        return;
                    }
                    lock (server._sockets)
                    {
                        server._sockets.Add(socket);
                    }
                    _ = Task.Run(() => handle(socket));
                }
            });
            return server;
        }

        public static async Task<string> ReadHeadersAsync(Socket socket)
        {
            var received = new StringBuilder();
            var buffer = new byte[4096];
            while (!received.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
            {
                var n = await socket.ReceiveAsync(buffer);
                if (n == 0)
                {
                    break;
                }
                received.Append(Encoding.ASCII.GetString(buffer, 0, n));
            }
            return received.ToString();
        }

        public ValueTask DisposeAsync()
        {
            _stop.Cancel();
            _listener.Stop();
            lock (_sockets)
            {
                foreach (var socket in _sockets)
                {
                    socket.Dispose();
                }
            }
            _stop.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
