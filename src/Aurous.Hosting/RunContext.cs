using System.Collections.Concurrent;

namespace Aurous.Hosting;

/// <summary>What resources share while the application runs: options, logging, and the processes to watch.</summary>
public sealed class RunContext(DistributedApplicationOptions options)
{
    public DistributedApplicationOptions Options { get; } = options;

    public string StatePath(params string[] parts) => Path.Combine([Options.StateDirectory, .. parts]);

    public void Log(string resource, string line) => Options.LogSink(resource, line);

    /// <summary>Set when a supervised process exits on its own while the application runs.</summary>
    public ConcurrentQueue<string> Failures { get; } = new();

    internal CancellationTokenSource Failed { get; } = new();

    internal void ReportFailure(string message)
    {
        Failures.Enqueue(message);
        Failed.Cancel();
    }
}
