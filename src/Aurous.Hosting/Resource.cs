namespace Aurous.Hosting;

/// <summary>A named part of the distributed application (Aspire's IResource): a server, a project, or a one-shot step.</summary>
public abstract class Resource(string name)
{
    public string Name { get; } = name;

    internal List<Resource> Dependencies { get; } = [];
    internal Dictionary<string, Func<string>> Environment { get; } = new(StringComparer.Ordinal);

    /// <summary>Completes when the resource is healthy (servers, projects) or has finished (steps).</summary>
    internal TaskCompletionSource Ready { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Called once when the application is built: ports and generated secrets are fixed here, so connection
    /// strings are known before anything starts.</summary>
    internal virtual void Initialize(RunContext context, PortAllocator ports)
    {
    }

    /// <summary>Deletes data this resource keeps outside the state folder (the state folder itself is deleted by the caller).</summary>
    internal virtual void DeleteExternalState(RunContext context)
    {
    }

    /// <summary>Starts the resource and returns once it is healthy or complete.</summary>
    internal abstract Task StartAsync(RunContext context, CancellationToken cancellationToken);

    /// <summary>Stops what <see cref="StartAsync"/> started; called in reverse start order.</summary>
    internal virtual Task StopAsync(RunContext context) => Task.CompletedTask;
}

/// <summary>A resource other resources reach through <c>ConnectionStrings__{name}</c>.</summary>
public interface IResourceWithConnectionString
{
    string Name { get; }
    string ConnectionString { get; }
}

/// <summary>A resource other resources reach over HTTP through <c>services__{name}__http__0</c>.</summary>
public interface IResourceWithEndpoint
{
    string Name { get; }
    Uri HttpEndpoint { get; }
}

/// <summary>Fluent wiring for a resource, in Aspire's vocabulary.</summary>
public sealed class ResourceBuilder<T>(T resource) where T : Resource
{
    public T Resource { get; } = resource;

    /// <summary>Injects the connection string and/or endpoint of <paramref name="other"/> the way Aspire does.</summary>
    public ResourceBuilder<T> WithReference<TOther>(ResourceBuilder<TOther> other) where TOther : Resource
    {
        if (other.Resource is IResourceWithConnectionString cs)
        {
            Resource.Environment[$"ConnectionStrings__{cs.Name}"] = () => cs.ConnectionString;
        }
        if (other.Resource is IResourceWithEndpoint ep)
        {
            Resource.Environment[$"services__{ep.Name}__http__0"] = () => ep.HttpEndpoint.ToString().TrimEnd('/');
        }
        return this;
    }

    /// <summary>Starts this resource only after <paramref name="other"/> is healthy (or, for a step, complete).</summary>
    public ResourceBuilder<T> WaitFor<TOther>(ResourceBuilder<TOther> other) where TOther : Resource
    {
        if (!Resource.Dependencies.Contains(other.Resource))
        {
            Resource.Dependencies.Add(other.Resource);
        }
        return this;
    }

    public ResourceBuilder<T> WithEnvironment(string name, string value)
    {
        Resource.Environment[name] = () => value;
        return this;
    }

    public ResourceBuilder<T> WithEnvironment(string name, Func<string> value)
    {
        Resource.Environment[name] = value;
        return this;
    }
}
