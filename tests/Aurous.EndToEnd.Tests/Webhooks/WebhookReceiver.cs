using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Aurous.EndToEnd.Tests.Webhooks;

/// <summary>A delivery as the receiver saw it: its headers, its body, and what the receiver answered.</summary>
public sealed record ReceivedWebhook(string Path, IHeaderDictionary Headers, string Body, int Answered, DateTimeOffset At)
{
    public string Id => Headers["webhook-id"].ToString();
}

/// <summary>
/// A webhook receiver on a real loopback socket. Each path is its own endpoint; a path can be told to answer 503 to
/// its first n deliveries (a receiver that is down for a while) or always.
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, ConcurrentQueue<ReceivedWebhook>> _received = new();
    private readonly Dictionary<string, int> _failuresLeft = [];

    private WebhookReceiver(WebApplication app) => _app = app;

    public Uri BaseAddress { get; private set; } = null!;

    public static async Task<WebhookReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var receiver = new WebhookReceiver(app);
        app.MapPost("/{**path}", receiver.ReceiveAsync);
        await app.StartAsync();
        receiver.BaseAddress = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return receiver;
    }

    /// <summary>A new endpoint URL on this receiver.</summary>
    public string NewUrl(string name) => new Uri(BaseAddress, $"/{name}-{Guid.NewGuid():N}").AbsoluteUri;

    /// <summary>The path answers 503 to its next <paramref name="times"/> deliveries (int.MaxValue: always).</summary>
    public void Fail(string url, int times)
    {
        lock (_failuresLeft)
        {
            _failuresLeft[new Uri(url).AbsolutePath] = times;
        }
    }

    public IReadOnlyList<ReceivedWebhook> Received(string url) =>
        _received.TryGetValue(new Uri(url).AbsolutePath, out var queue) ? [.. queue] : [];

    /// <summary>Waits until the path has received a delivery it answered with 2xx matching <paramref name="match"/>.</summary>
    public async Task<ReceivedWebhook> WaitForSuccessAsync(string url, Func<ReceivedWebhook, bool>? match = null, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromMinutes(2));
        while (DateTime.UtcNow < deadline)
        {
            if (Received(url).FirstOrDefault(r => r.Answered == 200 && (match is null || match(r))) is { } hit)
            {
                return hit;
            }
            await Task.Delay(200);
        }
        throw new TimeoutException($"No successful delivery reached {url}; received: {string.Join(", ", Received(url).Select(r => $"{r.Answered} {r.Id}"))}");
    }

    private async Task ReceiveAsync(HttpContext context)
    {
        using var reader = new StreamReader(context.Request.Body);
        var body = await reader.ReadToEndAsync();
        var path = context.Request.Path.Value!;
        bool fail;
        lock (_failuresLeft)
        {
            fail = _failuresLeft.TryGetValue(path, out var left) && left > 0;
            if (fail && left != int.MaxValue)
            {
                _failuresLeft[path] = left - 1;
            }
        }
        var status = fail ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status200OK;
        var headers = new HeaderDictionary();
        foreach (var header in context.Request.Headers)
        {
            headers[header.Key] = header.Value;
        }
        _received.GetOrAdd(path, _ => new()).Enqueue(new ReceivedWebhook(path, headers, body, status, DateTimeOffset.UtcNow));
        context.Response.StatusCode = status;
    }

    /// <summary>A loopback URL on which nothing listens: every connection is refused.</summary>
    public static string RefusingUrl()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return $"http://127.0.0.1:{port}/refused";
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
