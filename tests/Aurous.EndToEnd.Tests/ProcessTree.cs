namespace Aurous.EndToEnd.Tests;

/// <summary>Reads the Linux process table (/proc) to find children and check that processes are gone.</summary>
public static class ProcessTree
{
    public static bool IsAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }

    public static IReadOnlyList<int> Descendants(int root)
    {
        var parentOf = new Dictionary<int, int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }
            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                parentOf[pid] = int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1]);
            }
            catch (IOException)
            {
            }
        }
        var result = new List<int>();
        var frontier = new Queue<int>([root]);
        while (frontier.TryDequeue(out var current))
        {
            foreach (var (child, parent) in parentOf)
            {
                if (parent == current)
                {
                    result.Add(child);
                    frontier.Enqueue(child);
                }
            }
        }
        return result;
    }

    /// <summary>
    /// Every process an Aspire AppHost runs: its own children and those of the orchestrator (DCP) it started, which
    /// detaches from the AppHost and watches it through <c>--monitor PID</c>.
    /// </summary>
    public static IReadOnlyList<int> OrchestratedBy(int appHost)
    {
        var result = new List<int>(Descendants(appHost));
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }
            try
            {
                var args = File.ReadAllText(Path.Combine(dir, "cmdline")).Split('\0');
                var monitor = Array.IndexOf(args, "--monitor");
                if (args.Contains("start-apiserver") && monitor >= 0 && monitor + 1 < args.Length && args[monitor + 1] == appHost.ToString())
                {
                    result.Add(pid);
                    result.AddRange(Descendants(pid));
                }
            }
            catch (IOException)
            {
            }
        }
        return result;
    }

    public static async Task WaitUntilGoneAsync(IEnumerable<int> pids, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (pids.Any(IsAlive) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }
    }
}
