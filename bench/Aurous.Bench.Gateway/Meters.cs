namespace Aurous.Bench.Gateway;

/// <summary>A process (or process tree) whose CPU is measured per round: its name in the tables and how to read it.</summary>
public sealed record Meter(string Name, Func<ProcSnapshot, double> Seconds);

/// <summary>The CPU milliseconds each meter spent per successful request during one round.</summary>
public sealed record CpuPerRequest(IReadOnlyDictionary<string, double> Milliseconds)
{
    /// <summary>
    /// What the gateway itself costs per request: for our API, the API process and the stores it drives on the request's
    /// behalf (Postgres, Redis, blob storage); for Portkey, its Node process; for the bare proxy, its process. The upstream
    /// (worker, mock) is not included.
    /// </summary>
    public double GatewayAdded(string target) => target switch
    {
        "api" or "api-x32" => Sum("api", "postgres", "redis", "blobs"),
        "portkey" => Sum("portkey"),
        "proxy" => Sum("proxy"),
        _ => double.NaN,
    };

    private double Sum(params string[] names) => names.Sum(n => Milliseconds.GetValueOrDefault(n));

    public static CpuPerRequest Between(IReadOnlyList<Meter> meters, ProcSnapshot before, ProcSnapshot after, int requests) =>
        new(meters.ToDictionary(m => m.Name, m => requests == 0 ? double.NaN : (m.Seconds(after) - m.Seconds(before)) * 1000 / requests));
}
