using System.Globalization;

namespace Aurous.Bench.Gateway;

/// <summary>One round: a target under one open-loop rate, and the CPU every measured process spent meanwhile.</summary>
public sealed record Measured(int Rate, int Round, string Target, RoundResult Result, CpuPerRequest Cpu);

/// <summary>The tables the bench prints: every round, then the medians over rounds and the comparisons the goals ask for.</summary>
public static class Report
{
    public static string RoundLine(Measured m, IReadOnlyList<Meter> meters)
    {
        var r = m.Result;
        var cpu = string.Join(" | ", meters.Select(x => Ms(m.Cpu.Milliseconds[x.Name], "0.000")));
        return $"| {m.Rate} | {m.Round} | {m.Target} | {r.Achieved:0} | {Ms(r.P50)} | {Ms(r.P90)} | {Ms(r.P99)} | {r.Errors} | {r.Unsent} | {cpu} | {Ms(m.Cpu.GatewayAdded(m.Target), "0.000")} |";
    }

    public static string RoundHeader(IReadOnlyList<Meter> meters) =>
        $"| rate/s | round | target | achieved/s | p50 ms | p90 ms | p99 ms | errors | unsent | {string.Join(" | ", meters.Select(m => m.Name + " cpu ms/req"))} | gateway added cpu ms/req |\n"
        + $"|{string.Concat(Enumerable.Repeat("---|", 10 + meters.Count))}";

    public static void PrintSummary(IReadOnlyList<Measured> all, IReadOnlyList<string> targets, TextWriter output)
    {
        var rates = all.Select(m => m.Rate).Distinct().ToList();
        output.WriteLine();
        output.WriteLine("Medians over rounds (latency from each request's scheduled start; \"saturated\": requests were held back or under 95 % of the rate was served):");
        output.WriteLine();
        output.WriteLine("| rate/s | " + string.Join(" | ", targets.Select(t => $"{t} p50 / p99 ms (achieved/s)")) + " |");
        output.WriteLine("|---|" + string.Concat(targets.Select(_ => "---|")));
        foreach (var rate in rates)
        {
            var cells = targets.Select(t =>
            {
                var rounds = Of(all, rate, t);
                var saturated = rounds.Any(m => !m.Result.Sustained) ? " saturated" : "";
                return $"{Ms(Median(rounds, m => m.Result.P50))} / {Ms(Median(rounds, m => m.Result.P99))} ({Median(rounds, m => m.Result.Achieved):0}{saturated})";
            });
            output.WriteLine($"| {rate} | {string.Join(" | ", cells)} |");
        }

        output.WriteLine();
        output.WriteLine("Gateway added CPU per request, ms (median over rounds; API: api + postgres + redis + blobs; Portkey: its node process; proxy: its process):");
        output.WriteLine();
        var gateways = targets.Where(t => t is "portkey" or "proxy" or "api" or "api-x32").ToList();
        output.WriteLine("| rate/s | " + string.Join(" | ", gateways) + " |");
        output.WriteLine("|---|" + string.Concat(gateways.Select(_ => "---|")));
        foreach (var rate in rates)
        {
            output.WriteLine($"| {rate} | {string.Join(" | ", gateways.Select(t => Ms(Median(Of(all, rate, t), m => m.Cpu.GatewayAdded(t)), "0.000")))} |");
        }

        output.WriteLine();
        foreach (var rate in rates)
        {
            var line = new List<string>();
            if (targets.Contains("api") && targets.Contains("worker"))
            {
                line.Add($"API adds p50 {Added(all, rate, "api", "worker", m => m.P50)} / p99 {Added(all, rate, "api", "worker", m => m.P99)} ms over the worker");
            }
            if (targets.Contains("api-x32") && targets.Contains("worker"))
            {
                line.Add($"over 32 teams p50 {Added(all, rate, "api-x32", "worker", m => m.P50)} ms");
            }
            if (targets.Contains("proxy") && targets.Contains("worker"))
            {
                line.Add($"a bare .NET proxy adds p50 {Added(all, rate, "proxy", "worker", m => m.P50)} / p99 {Added(all, rate, "proxy", "worker", m => m.P99)} ms over the worker");
            }
            if (targets.Contains("portkey") && targets.Contains("mock"))
            {
                line.Add($"Portkey adds p50 {Added(all, rate, "portkey", "mock", m => m.P50)} / p99 {Added(all, rate, "portkey", "mock", m => m.P99)} ms over the mock");
            }
            if (line.Count > 0)
            {
                output.WriteLine($"At {rate}/s: {string.Join("; ", line)}.");
            }
        }
        output.WriteLine();
        output.WriteLine("Throughput: the highest offered rate each target sustained in every round, and the most it served in any round:");
        var peak = new Dictionary<string, double>();
        foreach (var t in targets)
        {
            var sustained = rates.Where(rate => Of(all, rate, t).All(m => m.Result.Sustained)).DefaultIfEmpty(0).Max();
            peak[t] = all.Where(m => m.Target == t).Max(m => m.Result.Achieved);
            output.WriteLine($"  {t,-8} sustained {(sustained > 0 ? sustained.ToString(CultureInfo.InvariantCulture) + "/s" : "none of the rates")}, peak {peak[t]:0}/s");
        }
        foreach (var api in new[] { "api", "api-x32" }.Where(targets.Contains))
        {
            var ratios = new List<string>();
            if (peak.TryGetValue("portkey", out var portkey))
            {
                ratios.Add($"{peak[api] / portkey:0.00}x Portkey's");
            }
            if (peak.TryGetValue("worker", out var worker))
            {
                ratios.Add($"{peak[api] / worker:0.00}x the worker's");
            }
            if (ratios.Count > 0)
            {
                output.WriteLine($"  {api} peak is {string.Join(" and ", ratios)} (a peak under the highest rate offered is the target's ceiling; one equal to it only a floor)");
            }
        }
    }

    private static List<Measured> Of(IReadOnlyList<Measured> all, int rate, string target) => all.Where(m => m.Rate == rate && m.Target == target).ToList();

    private static string Added(IReadOnlyList<Measured> all, int rate, string target, string baseline, Func<RoundResult, double> pick) =>
        Ms(Median(Of(all, rate, target), m => pick(m.Result)) - Median(Of(all, rate, baseline), m => pick(m.Result)), "+0.00;-0.00");

    private static double Median(List<Measured> rounds, Func<Measured, double> pick)
    {
        var values = rounds.Select(pick).Where(v => !double.IsNaN(v)).Order().ToArray();
        return values.Length == 0 ? double.NaN : values.Length % 2 == 1 ? values[values.Length / 2] : (values[values.Length / 2 - 1] + values[values.Length / 2]) / 2;
    }

    private static string Ms(double value, string format = "0.00") => double.IsNaN(value) ? "-" : value.ToString(format, CultureInfo.InvariantCulture);
}
