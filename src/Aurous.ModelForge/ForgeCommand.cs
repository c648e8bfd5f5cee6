using System.Diagnostics;
using Aurous.Models;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace Aurous.ModelForge;

/// <summary>
/// The <c>Aurous.ModelForge</c> command: generates the missing files of every model in a models folder whose manifest
/// names a forge generator, then exits. Run before the worker starts (the worker itself never writes weights). Where
/// everything exists it only reads the manifests and the ONNX files' provenance, so it is cheap to run on every start.
/// </summary>
public static class ForgeCommand
{
    public const string ModelsPathKey = "Models:Path";

    /// <summary>Environment (<c>Models__Path</c>) first, then the command line (<c>--models DIR</c>), which wins.</summary>
    public static IConfiguration Configuration(string[] args) =>
        new ConfigurationBuilder()
            .AddEnvironmentVariables()
            .AddCommandLine(args, new Dictionary<string, string> { ["--models"] = ModelsPathKey })
            .Build();

    /// <summary>0 when every generated model is complete; 1, with the reason logged, when it could not be made so.</summary>
    public static int Run(IConfiguration configuration, ILogger log)
    {
        var path = configuration[ModelsPathKey];
        if (string.IsNullOrWhiteSpace(path))
        {
            log.LogError("No models folder: pass --models DIR or set {Key} (env Models__Path).", ModelsPathKey);
            return 1;
        }
        var directory = Path.GetFullPath(path);
        try
        {
            var stopwatch = Stopwatch.StartNew();
            var catalog = ModelCatalog.Load(directory);
            var written = Forge.EnsureGenerated(catalog, log);
            log.LogInformation("Models in {Directory}: {Generated} file(s) generated, {Models} model(s) checked in {ElapsedMs} ms",
                directory, written.Count, catalog.Models.Count, stopwatch.ElapsedMilliseconds);
            return 0;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidOperationException or InvalidDataException or ArgumentException
                                       or System.Text.Json.JsonException)
        {
            log.LogError("Generating the models in {Directory} failed: {Reason}", directory, ex.Message);
            return 1;
        }
    }
}
