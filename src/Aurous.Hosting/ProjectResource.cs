namespace Aurous.Hosting;

/// <summary>
/// One of our ASP.NET Core services, launched from its build output with <c>dotnet</c>, listening on loopback HTTP,
/// healthy when its <c>/health</c> answers 200. Stands in for Aspire's AddProject.
/// </summary>
public sealed class ProjectResource(string name, string projectName, int defaultPort) : ProcessResource(name, defaultPort), IResourceWithEndpoint
{
    public string ProjectName { get; } = projectName;

    public Uri HttpEndpoint => new($"http://127.0.0.1:{Port}");

    public string AssemblyPath(RunContext context) => Path.Combine(
        context.Options.RepoRoot, "src", ProjectName, "bin", context.Options.Configuration, "net10.0", ProjectName + ".dll");

    protected override (string, IEnumerable<string>, string?) Command(RunContext context)
    {
        var dll = AssemblyPath(context);
        if (!File.Exists(dll))
        {
            throw new MissingDependencyException($"{ProjectName} is not built ({dll})", $"dotnet build -c {context.Options.Configuration}");
        }
        Environment["ASPNETCORE_URLS"] = () => HttpEndpoint.ToString();
        Environment.TryAdd("ASPNETCORE_ENVIRONMENT", () => "Development");
        Environment["OTEL_SERVICE_NAME"] = () => Name;
        Environment["DOTNET_NOLOGO"] = () => "1";
        return ("dotnet", [dll], null);
    }

    protected override async Task<bool> IsHealthyAsync(CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        using var response = await http.GetAsync(new Uri(HttpEndpoint, "/health"), cancellationToken);
        return response.IsSuccessStatusCode;
    }
}

/// <summary>A one-shot step (schema migrations, seeding, model generation): runs once, then its dependents may start.</summary>
public sealed class StepResource(string name, Func<StepContext, CancellationToken, Task> action) : Resource(name)
{
    internal override async Task StartAsync(RunContext context, CancellationToken cancellationToken)
    {
        var env = Environment.ToDictionary(kv => kv.Key, kv => kv.Value());
        await action(new StepContext(context, Name, env), cancellationToken);
    }
}

public sealed record StepContext(RunContext Run, string Name, IReadOnlyDictionary<string, string> Environment)
{
    public void Log(string line) => Run.Log(Name, line);

    public string ConnectionString(string resource) =>
        Environment.TryGetValue($"ConnectionStrings__{resource}", out var cs)
            ? cs
            : throw new InvalidOperationException($"Step '{Name}' has no reference to '{resource}'.");
}
