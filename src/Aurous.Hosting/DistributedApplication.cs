using System.Diagnostics;

namespace Aurous.Hosting;

/// <summary>Declares resources and their wiring (Aspire's IDistributedApplicationBuilder).</summary>
public sealed class DistributedApplicationBuilder(DistributedApplicationOptions options)
{
    private readonly List<Resource> _resources = [];

    public DistributedApplicationOptions Options { get; } = options;

    public ResourceBuilder<PostgresResource> AddPostgres(string name, string databaseName, int port = 5433) => Add(new PostgresResource(name, databaseName, port));

    public ResourceBuilder<RedisResource> AddRedis(string name, int port = 6380) => Add(new RedisResource(name, port));

    public ResourceBuilder<AzuriteResource> AddAzurite(string name, int port = 10000) => Add(new AzuriteResource(name, port));

    public ResourceBuilder<ProjectResource> AddProject(string name, string projectName, int port) => Add(new ProjectResource(name, projectName, port));

    public ResourceBuilder<StepResource> AddStep(string name, Func<StepContext, CancellationToken, Task> action) => Add(new StepResource(name, action));

    private ResourceBuilder<T> Add<T>(T resource) where T : Resource
    {
        if (_resources.Any(r => r.Name == resource.Name))
        {
            throw new InvalidOperationException($"A resource named '{resource.Name}' already exists.");
        }
        _resources.Add(resource);
        return new ResourceBuilder<T>(resource);
    }

    /// <summary>Builds the application; with <paramref name="resetState"/> every resource's data is deleted first.</summary>
    public DistributedApplication Build(bool resetState = false)
    {
        var context = new RunContext(Options);
        if (resetState)
        {
            foreach (var r in _resources)
            {
                r.DeleteExternalState(context);
            }
            if (Directory.Exists(Options.StateDirectory))
            {
                Directory.Delete(Options.StateDirectory, recursive: true);
            }
        }
        Directory.CreateDirectory(Options.StateDirectory);
        var ports = new PortAllocator(Options.DynamicPorts);
        foreach (var r in _resources)
        {
            r.Initialize(context, ports);
        }
        return new DistributedApplication(context, _resources);
    }
}

/// <summary>
/// Runs the declared resources: each starts as soon as everything it waits for is ready, a failure stops everything,
/// and stopping goes in reverse start order so dependents go before what they depend on.
/// </summary>
public sealed class DistributedApplication : IAsyncDisposable
{
    private readonly RunContext _context;
    private readonly IReadOnlyList<Resource> _resources;
    private readonly List<Resource> _started = [];
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _stopping = new();
    private bool _stopped;

    internal DistributedApplication(RunContext context, IReadOnlyList<Resource> resources)
    {
        _context = context;
        _resources = resources;
    }

    public RunContext Context => _context;

    public T Resource<T>(string name) where T : Resource => (T)_resources.Single(r => r.Name == name);

    public string GetConnectionString(string name) => ((IResourceWithConnectionString)_resources.Single(r => r.Name == name)).ConnectionString;

    public Uri GetEndpoint(string name) => ((IResourceWithEndpoint)_resources.Single(r => r.Name == name)).HttpEndpoint;

    /// <summary>Pids of the processes this application started and still runs.</summary>
    public IReadOnlyList<int> ProcessIds
    {
        get
        {
            lock (_gate)
            {
                return _started.OfType<ProcessResource>().Select(p => p.ProcessId).OfType<int>().ToArray();
            }
        }
    }

    /// <summary>
    /// Starts <paramref name="only"/> (and what they wait for), or everything, and returns when all of them are ready.
    /// On failure everything already started is stopped and the exception names the resource that failed.
    /// </summary>
    public async Task StartAsync(IEnumerable<string>? only = null, CancellationToken cancellationToken = default)
    {
        var selected = Closure(only is null ? _resources : only.Select(n => _resources.Single(r => r.Name == n)));
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token, _context.Failed.Token);
        var total = Stopwatch.StartNew();
        var tasks = selected.Select(r => StartOneAsync(r, linked.Token)).ToArray();
        try
        {
            await Task.WhenAll(tasks);
        }
        catch
        {
            await linked.CancelAsync();
            await Task.WhenAll(tasks.Select(t => t.ContinueWith(_ => { }, TaskScheduler.Default)));
            await StopAsync();
            var failure = tasks.Where(t => t.IsFaulted).Select(t => t.Exception!.GetBaseException())
                .FirstOrDefault(e => e is ResourceFailedException or MissingDependencyException)
                ?? tasks.Where(t => t.IsFaulted).Select(t => t.Exception!.GetBaseException()).FirstOrDefault();
            if (failure is not null)
            {
                throw failure;
            }
            throw;
        }
        _context.Log("apphost", $"{selected.Count} resources ready in {total.ElapsedMilliseconds} ms");
    }

    private async Task StartOneAsync(Resource resource, CancellationToken cancellationToken)
    {
        try
        {
            await Task.WhenAll(resource.Dependencies.Select(d => d.Ready.Task)).WaitAsync(cancellationToken);
            lock (_gate)
            {
                _started.Add(resource);
            }
            await resource.StartAsync(_context, cancellationToken);
            resource.Ready.TrySetResult();
        }
        catch (Exception ex)
        {
            resource.Ready.TrySetException(ex);
            throw;
        }
    }

    private static List<Resource> Closure(IEnumerable<Resource> roots)
    {
        var result = new List<Resource>();
        void Visit(Resource r)
        {
            if (result.Contains(r))
            {
                return;
            }
            foreach (var d in r.Dependencies)
            {
                Visit(d);
            }
            result.Add(r);
        }
        foreach (var r in roots)
        {
            Visit(r);
        }
        return result;
    }

    /// <summary>Waits until <paramref name="cancellationToken"/> fires (Ctrl+C, SIGTERM) or a resource dies, then stops everything.</summary>
    public async Task WaitForShutdownAsync(CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _context.Failed.Token);
        try
        {
            await Task.Delay(Timeout.Infinite, linked.Token);
        }
        catch (OperationCanceledException)
        {
        }
        await StopAsync();
    }

    public async Task StopAsync()
    {
        Resource[] toStop;
        lock (_gate)
        {
            if (_stopped)
            {
                return;
            }
            _stopped = true;
            toStop = Enumerable.Reverse(_started).ToArray();
        }
        await _stopping.CancelAsync();
        foreach (var r in toStop)
        {
            try
            {
                await r.StopAsync(_context);
            }
            catch (Exception ex)
            {
                _context.Log("apphost", $"stopping {r.Name} failed: {ex.Message}");
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _stopping.Dispose();
    }
}
