using System.Diagnostics;
using System.Net.Http.Json;
using System.Runtime.InteropServices;
using System.Text.Json;
using Aurous.AppHost;

namespace Aurous.EndToEnd.Tests;

/// <summary>
/// The AppHost program itself, as an operator runs it: it comes up, writes dev.env, keeps its state across restarts,
/// and on SIGTERM or Ctrl+C (SIGINT) stops every child it started.
/// </summary>
public sealed partial class AppHostProcessTests : IDisposable
{
    private readonly string _home;

    public AppHostProcessTests()
    {
        _home = Directory.CreateTempSubdirectory("aurous-apphost-").FullName;
        File.SetUnixFileMode(_home, (UnixFileMode)0b111_101_101);
    }

    public void Dispose() => Directory.Delete(_home, recursive: true);

    [Theory]
    [InlineData(15)] // SIGTERM
    [InlineData(2)]  // SIGINT, what Ctrl+C sends
    public async Task A_signal_stops_every_child_and_state_survives_a_restart(int signal)
    {
        var (first, firstLog) = await StartAppHostAsync();
        var children = ProcessTree.Descendants(first.Id);
        children.Count.ShouldBeGreaterThanOrEqualTo(6);
        var env = File.ReadAllText(Path.Combine(_home, "dev.env"));
        var key = env.Split('\n').Single(l => l.StartsWith("AUROUS_API_KEY=", StringComparison.Ordinal))["AUROUS_API_KEY=".Length..];
        var baseUrl = env.Split('\n').Single(l => l.StartsWith("AUROUS_BASE_URL=", StringComparison.Ordinal))["AUROUS_BASE_URL=".Length..];
        (await BalanceAsync(baseUrl, key)).ShouldBe(1000m);

        await StopAsync(first, signal);
        first.ExitCode.ShouldBe(0, string.Join('\n', firstLog.TakeLast(30)));
        await ProcessTree.WaitUntilGoneAsync(children, TimeSpan.FromSeconds(5));
        children.Where(ProcessTree.IsAlive).ShouldBeEmpty();

        // Same state folder: the database and the development key are still there.
        var (second, secondLog) = await StartAppHostAsync();
        try
        {
            secondLog.ShouldContain(l => l.Contains("development key still valid"));
            var envAgain = File.ReadAllText(Path.Combine(_home, "dev.env"));
            envAgain.ShouldContain(key);
            var urlAgain = envAgain.Split('\n').Single(l => l.StartsWith("AUROUS_BASE_URL=", StringComparison.Ordinal))["AUROUS_BASE_URL=".Length..];
            (await BalanceAsync(urlAgain, key)).ShouldBe(1000m);
        }
        finally
        {
            var secondChildren = ProcessTree.Descendants(second.Id);
            await StopAsync(second, 15);
            await ProcessTree.WaitUntilGoneAsync(secondChildren, TimeSpan.FromSeconds(5));
            secondChildren.Where(ProcessTree.IsAlive).ShouldBeEmpty();
        }
    }

    private async Task<(Process Process, List<string> Log)> StartAppHostAsync()
    {
        var repo = AurousAppSettings.FindRepoRoot(AppContext.BaseDirectory);
        var dll = Path.Combine(AppContext.BaseDirectory, "Aurous.AppHost.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = repo };
        foreach (var a in new[] { dll, "--home", _home, "--dynamic-ports" })
        {
            psi.ArgumentList.Add(a);
        }
        var log = new List<string>();
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var process = new Process { StartInfo = psi };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }
            lock (log)
            {
                log.Add(e.Data);
            }
            if (e.Data.Contains("Aurous is running."))
            {
                ready.TrySetResult();
            }
        };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (log) { log.Add(e.Data); } } };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var exited = process.WaitForExitAsync();
        var first = await Task.WhenAny(ready.Task, exited, Task.Delay(TimeSpan.FromSeconds(120)));
        if (first != ready.Task)
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
            throw new InvalidOperationException("The AppHost did not come up:\n" + string.Join('\n', log.TakeLast(40)));
        }
        return (process, log);
    }

    private static async Task StopAsync(Process process, int signal)
    {
        kill(process.Id, signal).ShouldBe(0);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(cts.Token);
    }

    private static async Task<decimal> BalanceAsync(string baseUrl, string key)
    {
        using var http = new HttpClient();
        http.DefaultRequestHeaders.Add("X-Api-Key", key);
        return (await http.GetFromJsonAsync<JsonElement>(baseUrl + "/balance")).GetProperty("credits").GetDecimal();
    }

    [LibraryImport("libc")]
    private static partial int kill(int pid, int sig);
}
