using Microsoft.Extensions.Configuration;

namespace Aurous.AppHost;

/// <summary>
/// Passes the AppHost's <c>JobRunner</c> section (e.g. <c>--JobRunner:GenerationWorkers=2</c>, or appsettings.json) to
/// the worker, which runs the jobs; unset values keep the worker's own defaults (docs/jobs.md).
/// </summary>
internal static class JobRunnerSettings
{
    public static IResourceBuilder<ProjectResource> WithJobRunnerSettings(this IResourceBuilder<ProjectResource> worker, IConfiguration configuration)
    {
        foreach (var setting in configuration.GetSection("JobRunner").AsEnumerable(makePathsRelative: true).Where(s => s.Value is not null))
        {
            worker.WithEnvironment("JobRunner__" + setting.Key.Replace(":", "__", StringComparison.Ordinal), setting.Value);
        }
        return worker;
    }
}
