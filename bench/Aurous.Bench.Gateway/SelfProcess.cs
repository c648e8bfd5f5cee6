using System.Diagnostics;
using System.Reflection;

namespace Aurous.Bench.Gateway;

/// <summary>
/// This program started again in one of its serving modes (the mock upstream, the bare proxy), as a child process whose
/// CPU is measured apart from the load generator's. The child prints "listening URL" once bound and serves until its
/// standard input, held by the parent, closes.
/// </summary>
public static class SelfProcess
{
    public static async Task<(Process Process, Uri Url)> StartAsync(string what, params string[] args)
    {
        var self = Environment.ProcessPath!;
        var start = new ProcessStartInfo(self) { RedirectStandardInput = true, RedirectStandardOutput = true };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            start.ArgumentList.Add(Assembly.GetEntryAssembly()!.Location);
        }
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        var process = Process.Start(start)!;
        var line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
        if (line is null || !line.StartsWith("listening ", StringComparison.Ordinal))
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"The {what} did not start (it said: {line ?? "nothing"}).");
        }
        return (process, new Uri(line["listening ".Length..]));
    }
}
