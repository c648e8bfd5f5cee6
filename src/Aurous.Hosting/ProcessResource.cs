using System.Diagnostics;

namespace Aurous.Hosting;

/// <summary>A resource backed by one long-running child process with a health probe.</summary>
public abstract class ProcessResource(string name, int defaultPort) : Resource(name)
{
    private SupervisedProcess? _process;

    public int DefaultPort { get; } = defaultPort;

    /// <summary>Assigned when the application is built (fixed default, or a free port in dynamic mode).</summary>
    public int Port { get; internal set; }

    internal override void Initialize(RunContext context, PortAllocator ports) => Port = ports.Allocate(DefaultPort);

    /// <summary>The signal that asks this process for a quick, clean shutdown.</summary>
    protected virtual int StopSignal => SupervisedProcess.SIGTERM;

    /// <summary>Prepares state (data directories, secrets) before the first start; throws a clear error if something is missing.</summary>
    protected virtual Task PrepareAsync(RunContext context, CancellationToken cancellationToken) => Task.CompletedTask;

    protected abstract (string FileName, IEnumerable<string> Arguments, string? RunAsUser) Command(RunContext context);

    protected abstract Task<bool> IsHealthyAsync(CancellationToken cancellationToken);

    /// <summary>Runs once after the first successful health probe (e.g. create the database).</summary>
    protected virtual Task OnHealthyAsync(RunContext context, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>The id of the process while it runs (null before it starts); tests use it to make a service fail.</summary>
    public int? ProcessId => _process?.Id;

    internal override async Task StartAsync(RunContext context, CancellationToken cancellationToken)
    {
        await PrepareAsync(context, cancellationToken);
        var (file, args, user) = Command(context);
        var env = Environment.ToDictionary(kv => kv.Key, kv => kv.Value());
        foreach (var (k, v) in context.Options.SharedEnvironment)
        {
            env.TryAdd(k, v);
        }
        var stopwatch = Stopwatch.StartNew();
        _process = SupervisedProcess.Start(context, Name, file, args, env, runAsUser: user);

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(context.Options.StartupTimeout);
        while (true)
        {
            if (_process.HasExited)
            {
                throw new ResourceFailedException(Name, $"exited with code {_process.ExitCode} before it became healthy (see its log lines above)");
            }
            try
            {
                if (await IsHealthyAsync(timeout.Token))
                {
                    break;
                }
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                throw new ResourceFailedException(Name, $"did not become healthy within {context.Options.StartupTimeout.TotalSeconds:0} s");
            }
            catch (Exception) when (!timeout.IsCancellationRequested)
            {
                // Not up yet: keep probing.
            }
            await Task.Delay(100, timeout.Token).ConfigureAwait(false);
        }
        await OnHealthyAsync(context, cancellationToken);
        context.Log(Name, $"healthy after {stopwatch.ElapsedMilliseconds} ms (pid {_process.Id})");

        // From now on an unexpected exit takes the whole application down, as Aspire's dashboard would show it failed.
        var process = _process;
        _ = process.Exited.ContinueWith(
            _ => { if (!_stopping) context.ReportFailure($"{Name} exited unexpectedly with code {process.ExitCode}"); },
            TaskScheduler.Default);
    }

    private volatile bool _stopping;

    internal override async Task StopAsync(RunContext context)
    {
        _stopping = true;
        if (_process is { } p)
        {
            await p.StopAsync(StopSignal, TimeSpan.FromSeconds(10));
            context.Log(Name, "stopped");
        }
    }
}

public sealed class ResourceFailedException(string resource, string reason)
    : Exception($"Resource '{resource}' {reason}.")
{
    public string Resource { get; } = resource;
}

/// <summary>A required binary is not installed; the message names it and the command that installs it.</summary>
public sealed class MissingDependencyException(string what, string installCommand)
    : Exception($"{what} is not installed. Install it with: {installCommand}")
{
    public string InstallCommand { get; } = installCommand;
}
