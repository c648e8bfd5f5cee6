using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Aurous.Bench.Gateway;

/// <summary>
/// Portkey's open-source gateway (npm @portkey-ai/gateway), installed by bench/gateway/install-portkey.sh (idempotent,
/// into a folder git ignores) and run with Node on a free local port, headless (no console UI, no log streaming).
/// </summary>
public static class Portkey
{
    public static async Task<(Process Process, Uri Url)> StartAsync(string repoRoot)
    {
        var install = new ProcessStartInfo("bash") { RedirectStandardOutput = true, WorkingDirectory = repoRoot };
        install.ArgumentList.Add(Path.Combine(repoRoot, "bench", "gateway", "install-portkey.sh"));
        using (var installer = Process.Start(install)!)
        {
            var output = await installer.StandardOutput.ReadToEndAsync();
            await installer.WaitForExitAsync();
            if (installer.ExitCode != 0)
            {
                throw new InvalidOperationException($"bench/gateway/install-portkey.sh failed (exit {installer.ExitCode}); see its messages above.");
            }
            var bundle = output.Trim().Split('\n')[^1];
            var port = FreePort();
            var start = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Path.GetDirectoryName(bundle)! };
            foreach (var arg in new[] { bundle, "--headless", $"--port={port}" })
            {
                start.ArgumentList.Add(arg);
            }
            var process = Process.Start(start)!;
            // Its console output is not ours to show, but must be read or a full pipe would stall it.
            process.OutputDataReceived += (_, _) => { };
            process.ErrorDataReceived += (_, _) => { };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            var deadline = Stopwatch.StartNew();
            while (true)
            {
                try
                {
                    using var probe = new TcpClient();
                    await probe.ConnectAsync(IPAddress.Loopback, port);
                    return (process, new Uri($"http://127.0.0.1:{port}"));
                }
                catch (SocketException) when (deadline.Elapsed < TimeSpan.FromSeconds(60) && !process.HasExited)
                {
                    await Task.Delay(200);
                }
            }
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
