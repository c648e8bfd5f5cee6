using System.Diagnostics;
using System.Net.Http.Json;
using System.Runtime.InteropServices;
using System.Text.Json;
namespace Aurous.EndToEnd.Tests;

/// <summary>
/// The AppHost program itself, as an operator runs it: it comes up with the Aspire dashboard, writes dev.env only once
/// the API answers, keeps its state across restarts, and on SIGTERM or Ctrl+C (SIGINT) stops every child it started.
/// </summary>
public sealed partial class AppHostProcessTests : IDisposable
{
    private readonly string _home;

    public AppHostProcessTests()
    {
        _home = Directory.CreateTempSubdirectory("aurous-apphost-").FullName;
        File.SetUnixFileMode(_home, (UnixFileMode)0b111_101_101);
    }

    private readonly List<Process> _started = [];

    /// <summary>A failed assertion must not leave a whole system running: kill whatever is still up.</summary>
    public void Dispose()
    {
        foreach (var process in _started.Where(p => !p.HasExited))
        {
            var orchestrated = ProcessTree.OrchestratedBy(process.Id);
            process.Kill(entireProcessTree: true);
            foreach (var pid in orchestrated.Where(ProcessTree.IsAlive))
            {
                try
                {
                    Process.GetProcessById(pid).Kill();
                }
                catch (ArgumentException)
                {
                }
            }
        }
        Directory.Delete(_home, recursive: true);
    }

    private const int SIGINT = 2;  // what Ctrl+C sends
    private const int SIGTERM = 15;

    [Fact]
    public async Task SIGTERM_and_Ctrl_C_stop_every_child_and_state_survives_a_restart()
    {
        var (first, firstLog) = await StartAppHostAsync();
        var children = ProcessTree.OrchestratedBy(first.Id);
        children.Count.ShouldBeGreaterThanOrEqualTo(6);
        var env = File.ReadAllText(Path.Combine(_home, "dev.env"));
        var key = env.Split('\n').Single(l => l.StartsWith("AUROUS_API_KEY=", StringComparison.Ordinal))["AUROUS_API_KEY=".Length..];
        var baseUrl = env.Split('\n').Single(l => l.StartsWith("AUROUS_BASE_URL=", StringComparison.Ordinal))["AUROUS_BASE_URL=".Length..];
        (await BalanceAsync(baseUrl, key)).ShouldBe(1000m);

        // The banner names the Aspire dashboard with its login token, and that link signs a browser in.
        string aspireLogin;
        lock (firstLog)
        {
            aspireLogin = firstLog.Single(l => l.Contains("Aspire dashboard:", StringComparison.Ordinal)).Split("Aspire dashboard:")[1].Trim();
        }
        aspireLogin.ShouldMatch("^http://(127\\.0\\.0\\.1|localhost):[0-9]+/login\\?t=[0-9a-f]+$");
        using (var browser = new HttpClient(new HttpClientHandler { AllowAutoRedirect = true, UseCookies = true }))
        {
            using var signedIn = await browser.GetAsync(aspireLogin);
            signedIn.StatusCode.ShouldBe(System.Net.HttpStatusCode.OK);
            signedIn.RequestMessage!.RequestUri!.AbsolutePath.ShouldNotStartWith("/login");
        }

        await StopAsync(first, SIGTERM, firstLog);
        first.ExitCode.ShouldBe(0, string.Join('\n', firstLog.TakeLast(30)));
        await ProcessTree.WaitUntilGoneAsync(children, TimeSpan.FromSeconds(5));
        children.Where(ProcessTree.IsAlive).ShouldBeEmpty();

        // The banner also names the team dashboard with the development user's sign-in, as dev.env has it.
        var dashboardPassword = env.Split('\n').Single(l => l.StartsWith("AUROUS_DASHBOARD_PASSWORD=", StringComparison.Ordinal))["AUROUS_DASHBOARD_PASSWORD=".Length..];
        dashboardPassword.Length.ShouldBeGreaterThanOrEqualTo(12);
        lock (firstLog)
        {
            firstLog.ShouldContain(l => l.Contains(" Dashboard:", StringComparison.Ordinal)
                && l.Contains($"(sign in as dev@aurous.local / {dashboardPassword})", StringComparison.Ordinal));
        }

        // Same state folder: the database and the development key are still there (headless this time).
        var (second, secondLog) = await StartAppHostAsync("--no-dashboard");
        var secondChildren = ProcessTree.OrchestratedBy(second.Id);
        secondChildren.Count.ShouldBeGreaterThanOrEqualTo(6);
        secondLog.ShouldContain(l => l.Contains("development key still valid"));
        var envAgain = File.ReadAllText(Path.Combine(_home, "dev.env"));
        envAgain.ShouldContain(key);
        envAgain.ShouldContain($"AUROUS_DASHBOARD_PASSWORD={dashboardPassword}");
        var urlAgain = envAgain.Split('\n').Single(l => l.StartsWith("AUROUS_BASE_URL=", StringComparison.Ordinal))["AUROUS_BASE_URL=".Length..];
        (await BalanceAsync(urlAgain, key)).ShouldBe(1000m);

        await StopAsync(second, SIGINT, secondLog);
        second.ExitCode.ShouldBe(0, string.Join('\n', secondLog.TakeLast(30)));
        await ProcessTree.WaitUntilGoneAsync(secondChildren, TimeSpan.FromSeconds(5));
        secondChildren.Where(ProcessTree.IsAlive).ShouldBeEmpty();
    }

    private async Task<(Process Process, List<string> Log)> StartAppHostAsync(params string[] options)
    {
        var dll = AppHostBinary.Path;
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { dll, "--home", _home, "--dynamic-ports" }.Concat(options))
        {
            psi.ArgumentList.Add(a);
        }
        // What the launch profile sets for `dotnet run`, on free ports so that copies can run side by side.
        psi.Environment["ASPNETCORE_URLS"] = $"http://127.0.0.1:{FreePort()}";
        psi.Environment["ASPIRE_DASHBOARD_OTLP_ENDPOINT_URL"] = $"http://127.0.0.1:{FreePort()}";
        psi.Environment["ASPIRE_RESOURCE_SERVICE_ENDPOINT_URL"] = $"http://127.0.0.1:{FreePort()}";
        psi.Environment["ASPIRE_ALLOW_UNSECURED_TRANSPORT"] = "true";
        psi.Environment["DOTNET_ENVIRONMENT"] = "Development";
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
        _started.Add(process);
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

    private static async Task StopAsync(Process process, int signal, IReadOnlyCollection<string> log)
    {
        var children = ProcessTree.OrchestratedBy(process.Id);
        kill(process.Id, signal).ShouldBe(0);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            // Say what is still running and what the AppHost said last, so a slow stop can be diagnosed.
            var alive = children.Where(ProcessTree.IsAlive).Select(pid => $"{pid} {ReadCommandLine(pid)}");
            string tail;
            lock (log)
            {
                tail = string.Join('\n', log.TakeLast(40));
            }
            // A process started in the background by a shell without job control inherits SIGINT as ignored, and so
            // does every child it starts: then Ctrl-C cannot reach the AppHost at all.
            var inherited = SignalIgnored(signal) ? $" Signal {signal} is ignored by this test process (inherited from how it was started), so the AppHost inherited that too." : "";
            throw new ShouldAssertException($"The AppHost did not exit within 60 s of signal {signal}.{inherited} Still alive: {string.Join("; ", alive)}\n{tail}");
        }
    }

    private static bool SignalIgnored(int signal)
    {
        var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal));
        return line is not null && (Convert.ToUInt64(line["SigIgn:".Length..].Trim(), 16) & (1UL << (signal - 1))) != 0;
    }

    private static string ReadCommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ').Trim();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return "(gone)";
        }
    }

    private static async Task<decimal> BalanceAsync(string baseUrl, string key)
    {
        using var http = new HttpClient();
        http.DefaultRequestHeaders.Add("X-Api-Key", key);
        return (await http.GetFromJsonAsync<JsonElement>(baseUrl + "/balance")).GetProperty("credits").GetDecimal();
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    [LibraryImport("libc")]
    private static partial int kill(int pid, int sig);
}
