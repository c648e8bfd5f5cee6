using System.Globalization;

namespace Aurous.Bench.Gateway;

/// <summary>The command line: <c>--rates 100,300,600,1000 --seconds 10 --rounds 3 --format base64 ...</c>.</summary>
public sealed record BenchOptions
{
    public const string Usage = """
        Usage: dotnet run -c Release --project bench/Aurous.Bench.Gateway -- [options]
          --rates 100,300,600,1000   open-loop rates to offer, requests/s
          --seconds 10               length of one round (one target at one rate)
          --rounds 3                 rounds per rate; targets alternate round by round
          --warmup 3                 seconds of load per target before measuring
          --format base64|float      encoding_format of the embeddings request (base64 is the OpenAI SDKs' default)
          --max-in-flight 512        requests outstanding at most; one due past that is counted as unsent
          --targets mock,portkey,worker,proxy,api,api-x32
          --show-processes           print the process trees being measured
          --api-env NAME=VALUE       an environment variable for the API process (repeatable; e.g. a runtime knob or
                                     DOTNET_PerfMapEnabled=1 for perf record), so two settings compare run to run
        """;

    public IReadOnlyList<int> Rates { get; init; } = [100, 300, 600, 1000];
    public int Seconds { get; init; } = 10;
    public int Rounds { get; init; } = 3;
    public int Warmup { get; init; } = 3;
    public string Format { get; init; } = "base64";
    public int MaxInFlight { get; init; } = 512;
    /// <summary>Every target the bench knows, in the order a run measures them by default.</summary>
    public static readonly IReadOnlyList<string> KnownTargets = ["mock", "portkey", "worker", "proxy", "api", "api-x32"];

    public IReadOnlyList<string> Targets { get; init; } = KnownTargets;
    public bool ShowProcesses { get; init; }
    public IReadOnlyList<KeyValuePair<string, string>> ApiEnvironment { get; init; } = [];

    public static BenchOptions Parse(string[] args)
    {
        var options = new BenchOptions();
        for (var i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.\n{Usage}");
            static int Positive(string text) => int.TryParse(text, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : throw new ArgumentException($"'{text}' is not a positive number.\n{Usage}");
            options = args[i] switch
            {
                "--rates" => options with { Rates = Value().Split(',').Select(Positive).ToArray() },
                "--seconds" => options with { Seconds = Positive(Value()) },
                "--rounds" => options with { Rounds = Positive(Value()) },
                "--warmup" => options with { Warmup = Positive(Value()) },
                "--format" => options with { Format = Value() is "base64" or "float" ? args[i] : throw new ArgumentException($"--format is base64 or float.\n{Usage}") },
                "--max-in-flight" => options with { MaxInFlight = Positive(Value()) },
                "--targets" => options with { Targets = Value().Split(',') },
                "--show-processes" => options with { ShowProcesses = true },
                "--api-env" => options with { ApiEnvironment = [.. options.ApiEnvironment, Variable(Value())] },
                _ => throw new ArgumentException($"Unknown option {args[i]}.\n{Usage}"),
            };
        }
        var unknown = options.Targets.Except(KnownTargets).ToArray();
        if (unknown.Length > 0)
        {
            throw new ArgumentException($"Unknown targets: {string.Join(", ", unknown)}.\n{Usage}");
        }
        return options;
    }

    private static KeyValuePair<string, string> Variable(string text) =>
        text.IndexOf('=', StringComparison.Ordinal) is > 0 and var at
            ? new(text[..at], text[(at + 1)..])
            : throw new ArgumentException($"--api-env takes NAME=VALUE, not '{text}'.\n{Usage}");
}
