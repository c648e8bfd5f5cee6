using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Aurous.Hosting;

/// <summary>
/// A child process the AppHost owns: output fanned into the log, a pid file so a crashed AppHost's orphans are reaped on
/// the next start, and a graceful stop (a chosen signal, then SIGKILL after a grace period).
/// </summary>
internal sealed partial class SupervisedProcess
{
    public const int SIGINT = 2;
    public const int SIGKILL = 9;
    public const int SIGTERM = 15;

    private readonly Process _process;
    private readonly string _pidFile;

    private SupervisedProcess(Process process, string pidFile)
    {
        _process = process;
        _pidFile = pidFile;
    }

    public int Id => _process.Id;
    public bool HasExited => _process.HasExited;
    public Task Exited => _process.WaitForExitAsync();
    public int ExitCode => _process.ExitCode;

    /// <summary>Starts <paramref name="fileName"/>; with <paramref name="runAsUser"/> it runs under that account via setpriv.
    /// Both wrappers exec, so the pid we hold is the server's own.</summary>
    public static SupervisedProcess Start(
        RunContext context, string resource, string fileName, IEnumerable<string> arguments,
        IReadOnlyDictionary<string, string>? environment = null, string? workingDirectory = null, string? runAsUser = null)
    {
        var pidFile = context.StatePath("pids", resource + ".pid");
        ReapOrphan(context, resource, pidFile);

        var psi = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? context.Options.RepoRoot,
        };
        // setsid: the child gets its own session, so a terminal's Ctrl+C reaches only the AppHost, which then stops
        // children in dependency order instead of all of them dying at once.
        psi.FileName = "setsid";
        if (runAsUser is not null)
        {
            foreach (var a in new[] { "setpriv", $"--reuid={runAsUser}", $"--regid={runAsUser}", "--init-groups", "--" })
            {
                psi.ArgumentList.Add(a);
            }
        }
        psi.ArgumentList.Add(fileName);
        foreach (var a in arguments)
        {
            psi.ArgumentList.Add(a);
        }
        if (environment is not null)
        {
            foreach (var (k, v) in environment)
            {
                psi.Environment[k] = v;
            }
        }

        var process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) context.Log(resource, e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) context.Log(resource, e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        Directory.CreateDirectory(Path.GetDirectoryName(pidFile)!);
        File.WriteAllText(pidFile, $"{process.Id}\n{ReadStartTime(process.Id)}\n");
        return new SupervisedProcess(process, pidFile);
    }

    /// <summary>Sends <paramref name="signal"/>, waits up to <paramref name="grace"/>, then kills the process.</summary>
    public async Task StopAsync(int signal, TimeSpan grace)
    {
        try
        {
            if (!_process.HasExited)
            {
                _ = kill(_process.Id, signal);
                using var cts = new CancellationTokenSource(grace);
                try
                {
                    await _process.WaitForExitAsync(cts.Token);
                }
                catch (OperationCanceledException)
                {
                    _process.Kill(entireProcessTree: true);
                    await _process.WaitForExitAsync();
                }
            }
        }
        finally
        {
            File.Delete(_pidFile);
        }
    }

    /// <summary>Kills a process left running by an AppHost that died without stopping its children.</summary>
    private static void ReapOrphan(RunContext context, string resource, string pidFile)
    {
        if (!File.Exists(pidFile))
        {
            return;
        }
        var lines = File.ReadAllLines(pidFile);
        File.Delete(pidFile);
        if (lines.Length < 2 || !int.TryParse(lines[0], out var pid))
        {
            return;
        }
        // The start time guards against a recycled pid belonging to an unrelated process.
        if (ReadStartTime(pid) is { } started && started == lines[1])
        {
            context.Log(resource, $"stopping process {pid} left over from a previous run");
            _ = kill(pid, SIGKILL);
            for (var i = 0; i < 50 && ReadStartTime(pid) is not null; i++)
            {
                Thread.Sleep(100);
            }
        }
    }

    /// <summary>Field 22 of /proc/&lt;pid&gt;/stat (start time in clock ticks), or null when the process is gone.</summary>
    internal static string? ReadStartTime(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var afterName = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return afterName[0] == "Z" ? null : afterName[19];
        }
        catch (IOException)
        {
            return null;
        }
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int sig);
}
