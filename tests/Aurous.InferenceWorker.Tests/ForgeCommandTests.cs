using System.Diagnostics;
using Aurous.ModelForge;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Aurous.InferenceWorker.Tests;

/// <summary>The Aurous.ModelForge command that runs before the worker: in-process, and as the process the AppHost starts.</summary>
public sealed class ForgeCommandTests
{
    [Fact]
    public void Models_Path_alone_generates_every_missing_file_and_a_second_run_writes_nothing_quickly()
    {
        using var models = new TempModels();
        var config = Config(("Models:Path", models.Directory));

        ForgeCommand.Run(config, NullLogger.Instance).ShouldBe(0);
        var files = Snapshot(models.Directory);
        var stopwatch = Stopwatch.StartNew();
        ForgeCommand.Run(config, NullLogger.Instance).ShouldBe(0);
        stopwatch.Stop();

        File.Exists(Path.Combine(models.Directory, "aurous-embed-vision-1.0", "text_encoder.onnx")).ShouldBeTrue();
        File.Exists(Path.Combine(models.Directory, "aurous-grow-2.0-pro", "decoder.onnx")).ShouldBeTrue();
        Snapshot(models.Directory).ShouldBe(files);
        stopwatch.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(1));
    }

    [Fact]
    public void The_models_option_on_the_command_line_wins_over_the_environment()
    {
        using var models = new TempModels();
        var config = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["Models:Path"] = Path.Combine(models.Directory, "nowhere") })
            .AddCommandLine(["--models", models.Directory], new Dictionary<string, string> { ["--models"] = ForgeCommand.ModelsPathKey })
            .Build();

        ForgeCommand.Run(config, NullLogger.Instance).ShouldBe(0);

        File.Exists(Path.Combine(models.Directory, "aurous-embed-vision-1.0", "text_encoder.onnx")).ShouldBeTrue();
    }

    [Fact]
    public void No_models_folder_is_a_failure_that_says_how_to_give_one()
    {
        var log = new ListLogger();

        ForgeCommand.Run(Config(), log).ShouldBe(1);

        log.Lines.ShouldContain(l => l.Contains("--models DIR", StringComparison.Ordinal) && l.Contains("Models__Path", StringComparison.Ordinal));
    }

    [Fact]
    public void A_folder_that_does_not_exist_or_an_unknown_generator_is_a_failure_with_the_reason()
    {
        using var models = new TempModels();
        var manifest = Path.Combine(models.Directory, "aurous-embed-vision-1.0", "manifest.json");
        File.WriteAllText(manifest, File.ReadAllText(manifest).Replace(TinyClipV2.GeneratorName, "aurous-forge/nope"));
        var log = new ListLogger();

        ForgeCommand.Run(Config(("Models:Path", Path.Combine(models.Directory, "missing"))), log).ShouldBe(1);
        ForgeCommand.Run(Config(("Models:Path", models.Directory)), log).ShouldBe(1);

        log.Lines.ShouldContain(l => l.Contains("does not exist", StringComparison.Ordinal));
        log.Lines.ShouldContain(l => l.Contains("Unknown model generator 'aurous-forge/nope'", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_executable_runs_with_only_the_Models__Path_environment_variable()
    {
        using var models = new TempModels();
        var start = new ProcessStartInfo("dotnet", [ForgeExecutable()])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = models.Directory,
        };
        start.Environment["Models__Path"] = models.Directory;
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));

        process.ExitCode.ShouldBe(0, await output + await errors);
        File.Exists(Path.Combine(models.Directory, "aurous-grow-2.0-pro", "decoder.onnx")).ShouldBeTrue();
    }

    /// <summary>The command as built in its own project (tests get its assembly, not its runtime configuration).</summary>
    private static string ForgeExecutable()
    {
        var output = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)); // bin/<configuration>/<framework>
        var repo = output;
        while (!File.Exists(Path.Combine(repo.FullName, "Aurous.sln")))
        {
            repo = repo.Parent ?? throw new DirectoryNotFoundException($"Aurous.sln not found above {output}");
        }
        return Path.Combine(repo.FullName, "src", "Aurous.ModelForge", "bin", output.Parent!.Name, output.Name, "Aurous.ModelForge.dll");
    }

    private static IConfiguration Config(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => KeyValuePair.Create(v.Key, (string?)v.Value))).Build();

    private static Dictionary<string, DateTime> Snapshot(string directory) =>
        Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories).ToDictionary(f => f, File.GetLastWriteTimeUtc);

    private sealed class ListLogger : ILogger
    {
        public List<string> Lines { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Add(formatter(state, exception));
    }
}
