using System.Diagnostics;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Aurous.Bench.Gateway;

/// <summary>
/// The floor under any API in front of the worker: an ASP.NET Core pass-through with nothing in it (no auth, no limits,
/// no metering, no logs), forwarding POST /internal/embeddings to the worker with the caller's body and Authorization
/// header and copying the answer back. Measured as the "proxy" target against "worker", it is what one more process hop
/// of Kestrel and HttpClient costs on this machine, which the metered API pays too. It runs as its own process (this
/// program started again with "proxy"), so its CPU is measured apart from the load generator's.
/// </summary>
public static class BareProxy
{
    public const string Command = "proxy";

    /// <summary>The worker's embeddings route, which the proxy serves and forwards to (the bench's "worker" target too).</summary>
    public const string WorkerRoute = "/internal/embeddings";

    /// <summary>The "proxy" mode: serves until its standard input closes; prints "listening URL" once bound.</summary>
    public static async Task<int> ServeAsync(string upstream)
    {
        var target = new Uri(new Uri(upstream), WorkerRoute);
        using var client = new HttpClient(new SocketsHttpHandler
        {
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            UseCookies = false,
            UseProxy = false,
            ActivityHeadersPropagator = null,
        });
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        app.MapPost(WorkerRoute, async (HttpContext context) =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, target) { Content = new StreamContent(context.Request.Body) };
            if (context.Request.ContentType is { } type)
            {
                request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(type);
            }
            if (context.Request.Headers.Authorization is { Count: > 0 } authorization)
            {
                request.Headers.TryAddWithoutValidation("Authorization", authorization.ToString());
            }
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, context.RequestAborted);
            context.Response.StatusCode = (int)response.StatusCode;
            context.Response.ContentType = response.Content.Headers.ContentType?.ToString();
            context.Response.ContentLength = response.Content.Headers.ContentLength;
            await response.Content.CopyToAsync(context.Response.Body, context.RequestAborted);
        });
        await app.StartAsync();
        Console.WriteLine($"listening {app.Urls.First()}");
        // The parent holds our standard input; when it goes (even killed), we go.
        await Console.In.ReadToEndAsync();
        await app.StopAsync();
        return 0;
    }

    /// <summary>Starts the proxy as a child process in front of <paramref name="worker"/> and returns it with its base address.</summary>
    public static Task<(Process Process, Uri Url)> StartAsync(Uri worker) =>
        SelfProcess.StartAsync("bare proxy", Command, worker.ToString());
}
