using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Aurous.Bench.Gateway;

/// <summary>
/// The upstream Portkey proxies to: POST /v1/embeddings answered at once with a fixed body, the very bytes our API
/// returned for the same request (base64 or float, as the request's encoding_format asks). It runs as its own process
/// (this program started again with "mock"), so its CPU is measured apart from the load generator's.
/// </summary>
public static class MockUpstream
{
    public const string Command = "mock";

    /// <summary>The "mock" mode: serves until its standard input closes; prints "listening URL" once bound.</summary>
    public static async Task<int> ServeAsync(string base64BodyPath, string floatBodyPath)
    {
        var base64Body = await File.ReadAllBytesAsync(base64BodyPath);
        var floatBody = await File.ReadAllBytesAsync(floatBodyPath);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        app.MapPost("/v1/embeddings", async (HttpContext context) =>
        {
            using var reader = new StreamReader(context.Request.Body);
            var request = await reader.ReadToEndAsync();
            var body = request.Contains("\"base64\"", StringComparison.Ordinal) ? base64Body : floatBody;
            context.Response.ContentType = "application/json";
            context.Response.ContentLength = body.Length;
            await context.Response.Body.WriteAsync(body);
        });
        await app.StartAsync();
        Console.WriteLine($"listening {app.Urls.First()}");
        // The parent holds our standard input; when it goes (even killed), we go.
        await Console.In.ReadToEndAsync();
        await app.StopAsync();
        return 0;
    }

    /// <summary>Starts the mock as a child process serving these bodies and returns it with its base address.</summary>
    public static async Task<(Process Process, Uri Url)> StartAsync(byte[] base64Body, byte[] floatBody, string folder)
    {
        var base64Path = Path.Combine(folder, "mock-base64.json");
        var floatPath = Path.Combine(folder, "mock-float.json");
        await File.WriteAllBytesAsync(base64Path, base64Body);
        await File.WriteAllBytesAsync(floatPath, floatBody);
        return await SelfProcess.StartAsync("mock upstream", Command, base64Path, floatPath);
    }
}
