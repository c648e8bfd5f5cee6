using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Aurous.InferenceWorker.Tests;

/// <summary>A real HTTP server on 127.0.0.1 (random port) serving media and misbehaving on purpose.</summary>
public sealed class MediaServer : IAsyncDisposable
{
    public const int BigBytes = 3 * 1024 * 1024;

    private readonly WebApplication _app;

    private MediaServer(WebApplication app, Uri baseAddress)
    {
        _app = app;
        BaseAddress = baseAddress;
    }

    public Uri BaseAddress { get; }
    public int Port => BaseAddress.Port;

    public string Url(string path) => new Uri(BaseAddress, path).AbsoluteUri;

    public static async Task<MediaServer> StartAsync(byte[] png)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        app.MapGet("/image.png", () => Results.Bytes(png, "image/png"));
        app.MapGet("/big", () => Results.Bytes(new byte[BigBytes], "image/png"));
        app.MapGet("/big-chunked", async (HttpContext context) =>
        {
            // No Content-Length: the cap must hold while streaming.
            context.Response.ContentType = "image/png";
            var chunk = new byte[64 * 1024];
            for (var sent = 0; sent < BigBytes; sent += chunk.Length)
            {
                await context.Response.Body.WriteAsync(chunk);
                await context.Response.Body.FlushAsync();
            }
        });
        app.MapGet("/missing", () => Results.NotFound());
        app.MapGet("/garbage", () => Results.Bytes(Enumerable.Range(0, 5000).Select(i => (byte)(i * 7919 % 251)).ToArray(), "image/png"));
        app.MapGet("/redirect/{hops:int}", (int hops) => Results.Redirect(hops <= 0 ? "/image.png" : $"/redirect/{hops - 1}"));
        app.MapGet("/redirect-to-file", () => Results.Redirect("file:///etc/passwd"));
        app.MapGet("/slow", async (CancellationToken cancellationToken) =>
        {
            await Task.Delay(TimeSpan.FromSeconds(30), cancellationToken);
            return Results.Bytes(png, "image/png");
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new MediaServer(app, new Uri(address.EndsWith('/') ? address : address + "/"));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
