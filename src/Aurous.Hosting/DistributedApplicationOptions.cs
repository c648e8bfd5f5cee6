namespace Aurous.Hosting;

public sealed class DistributedApplicationOptions
{
    /// <summary>The repository root (where Aurous.sln lives).</summary>
    public required string RepoRoot { get; init; }

    /// <summary>Where servers keep their data, pid files and generated secrets. Persists across runs unless reset.</summary>
    public required string StateDirectory { get; init; }

    /// <summary>Pick free loopback ports instead of the fixed defaults (tests, several copies side by side).</summary>
    public bool DynamicPorts { get; init; }

    /// <summary>Keep blob data in memory (tests); database files still live under the state directory.</summary>
    public bool EphemeralStorage { get; init; }

    /// <summary>Build configuration of the projects to launch.</summary>
    public string Configuration { get; init; } =
#if DEBUG
        "Debug";
#else
        "Release";
#endif

    /// <summary>How long a resource may take to become healthy.</summary>
    public TimeSpan StartupTimeout { get; init; } = TimeSpan.FromSeconds(90);

    /// <summary>Receives every log line of every resource. Default: the console, prefixed with the resource name.</summary>
    public Action<string, string> LogSink { get; init; } = ConsoleLog.Write;

    /// <summary>Environment passed to every project (e.g. OTEL_EXPORTER_OTLP_ENDPOINT), in addition to its references.</summary>
    public IDictionary<string, string> SharedEnvironment { get; init; } = new Dictionary<string, string>();
}

/// <summary>Log fan-in: one line per child line, prefixed with the resource name and a stable colour.</summary>
public static class ConsoleLog
{
    private static readonly object Gate = new();
    private static readonly ConsoleColor[] Colours =
        [ConsoleColor.Cyan, ConsoleColor.Green, ConsoleColor.Yellow, ConsoleColor.Magenta, ConsoleColor.Blue, ConsoleColor.DarkCyan, ConsoleColor.DarkYellow];

    public static void Write(string resource, string line)
    {
        lock (Gate)
        {
            var colour = Colours[(int)((uint)StableHash(resource) % Colours.Length)];
            if (Console.IsOutputRedirected)
            {
                Console.Out.WriteLine($"[{resource}] {line}");
                return;
            }
            Console.ForegroundColor = colour;
            Console.Out.Write($"[{resource}] ");
            Console.ResetColor();
            Console.Out.WriteLine(line);
        }
    }

    private static int StableHash(string s)
    {
        var h = 17;
        foreach (var c in s)
        {
            h = h * 31 + c;
        }
        return h;
    }
}
