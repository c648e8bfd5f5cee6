using System.Diagnostics.Metrics;

namespace Aurous.Api.Metering;

/// <summary>The API's own metrics (Meter "Aurous.Api", exported with the framework's over OTLP): what was charged, how
/// many tokens per direction and modality, and why requests were turned away.</summary>
public static class MeteringTelemetry
{
    public static readonly Meter Meter = new("Aurous.Api");

    public static readonly Counter<double> CreditsCharged = Meter.CreateCounter<double>(
        "aurous.credits.charged", unit: "{credit}", description: "Credits captured, by endpoint and model.");

    public static readonly Counter<long> Tokens = Meter.CreateCounter<long>(
        "aurous.tokens", unit: "{token}", description: "Tokens billed, by endpoint, model, direction and modality.");

    public static readonly Counter<long> Rejections = Meter.CreateCounter<long>(
        "aurous.requests.rejected", unit: "{request}", description: "Paid requests refused before work, by reason.");

    public static readonly Counter<long> Uncharged = Meter.CreateCounter<long>(
        "aurous.requests.uncharged", unit: "{request}", description: "Requests served whose hold was lost before capture, so nothing was charged.");

    public static void RecordUncharged(string endpoint) => Uncharged.Add(1, new KeyValuePair<string, object?>("aurous.endpoint", endpoint));

    public static void RecordCharge(string endpoint, string model, TokenUsage usage, Charge charge)
    {
        var e = new KeyValuePair<string, object?>("aurous.endpoint", endpoint);
        var m = new KeyValuePair<string, object?>("aurous.model", model);
        CreditsCharged.Add((double)charge.Total, e, m);
        Add(usage.TextInput, "input", "text");
        Add(usage.VisualInput, "input", "visual");
        Add(usage.VideoInput, "input", "video");
        Add(usage.TextOutput, "output", "text");

        void Add(long tokens, string direction, string modality)
        {
            if (tokens > 0)
            {
                Tokens.Add(tokens, e, m, new("aurous.direction", direction), new("aurous.modality", modality));
            }
        }
    }

    public static void RecordRejection(string endpoint, string reason) =>
        Rejections.Add(1, new KeyValuePair<string, object?>("aurous.endpoint", endpoint), new KeyValuePair<string, object?>("aurous.reason", reason));
}
