using System.Diagnostics;
using System.Globalization;

namespace Aurous.Bench.Gateway;

/// <summary>
/// One reading of /proc: for every process, its parent, its name and the CPU it has used (user + system), its own and
/// that of the children it has reaped. A process tree's CPU over an interval is the difference of two readings, so
/// short-lived children (a Postgres backend that comes and goes) are counted as well.
/// </summary>
public sealed class ProcSnapshot
{
    private static readonly double SecondsPerTick = 1.0 / ClockTicksPerSecond();
    private readonly Dictionary<int, (int Parent, string Name, long Ticks)> _processes = [];
    private readonly Dictionary<int, List<int>> _children = [];

    private ProcSnapshot()
    {
    }

    public static ProcSnapshot Take()
    {
        var snapshot = new ProcSnapshot();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }
            string stat;
            try
            {
                stat = File.ReadAllText(Path.Combine(dir, "stat"));
            }
            catch (IOException)
            {
                continue; // it exited while we looked
            }
            catch (UnauthorizedAccessException)
            {
                continue;
            }
            // "pid (name) state ppid ... utime stime cutime cstime ...": the name may hold spaces and parentheses.
            var open = stat.IndexOf('(');
            var close = stat.LastIndexOf(')');
            if (open < 0 || close < open)
            {
                continue;
            }
            var fields = stat[(close + 2)..].Split(' ');
            var parent = int.Parse(fields[1], CultureInfo.InvariantCulture);
            long Field(int number) => long.Parse(fields[number - 3], CultureInfo.InvariantCulture);
            var ticks = Field(14) + Field(15) + Field(16) + Field(17);
            snapshot._processes[pid] = (parent, stat[(open + 1)..close], ticks);
            (snapshot._children.TryGetValue(parent, out var list) ? list : snapshot._children[parent] = []).Add(pid);
        }
        return snapshot;
    }

    /// <summary>CPU seconds used so far by <paramref name="root"/> and all its descendants (0 when it is gone).</summary>
    public double TreeSeconds(int root) => Tree(root).Sum(pid => _processes[pid].Ticks) * SecondsPerTick;

    /// <summary>CPU seconds used so far by one process (and the children it reaped), its live descendants not included.</summary>
    public double ProcessSeconds(int pid) => _processes.TryGetValue(pid, out var process) ? process.Ticks * SecondsPerTick : 0;

    /// <summary>CPU seconds used so far by the named processes (and what they reaped) among <paramref name="root"/>'s descendants, their own descendants not included.</summary>
    public double NamedSeconds(int root, Func<string, bool> name) =>
        Tree(root).Where(pid => name(_processes[pid].Name)).Sum(pid => _processes[pid].Ticks) * SecondsPerTick;

    /// <summary>The first process whose command line (arguments joined by spaces) satisfies <paramref name="match"/>.</summary>
    public static int? FindByCommandLine(Func<string, bool> match)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }
            try
            {
                if (match(File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ')))
                {
                    return pid;
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // it exited while we looked
            }
        }
        return null;
    }

    /// <summary><paramref name="root"/> and its descendants, depth first, as one line each (for --show-processes).</summary>
    public IEnumerable<string> Describe(int root) => Tree(root).Select(pid => $"{pid,8} <- {_processes[pid].Parent,8}  {_processes[pid].Name}");

    private IEnumerable<int> Tree(int root)
    {
        if (!_processes.ContainsKey(root))
        {
            yield break;
        }
        var pending = new Stack<int>([root]);
        while (pending.TryPop(out var pid))
        {
            yield return pid;
            foreach (var child in _children.GetValueOrDefault(pid) ?? [])
            {
                pending.Push(child);
            }
        }
    }

    private static int ClockTicksPerSecond()
    {
        try
        {
            using var getconf = Process.Start(new ProcessStartInfo("getconf", "CLK_TCK") { RedirectStandardOutput = true })!;
            var text = getconf.StandardOutput.ReadToEnd().Trim();
            getconf.WaitForExit();
            return int.TryParse(text, CultureInfo.InvariantCulture, out var hz) && hz > 0 ? hz : 100;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return 100; // Linux's USER_HZ everywhere we run
        }
    }
}
