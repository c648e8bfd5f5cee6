using System.Text.Json.Serialization;
using Aurous.Models;

namespace Aurous.Api.Metering;

/// <summary>Tokens a request used, per direction and modality.</summary>
public sealed record TokenUsage(long TextInput, long VisualInput = 0, long VideoInput = 0, long TextOutput = 0)
{
    public long PromptTokens => TextInput + VisualInput + VideoInput;
    public long TotalTokens => PromptTokens + TextOutput;
}

/// <summary>The price of a usage: credits per modality and their total, each rounded to the ledger's 12 decimals.</summary>
public sealed record Charge(decimal Text, decimal Visual, decimal Video, decimal Output)
{
    public decimal Total => Text + Visual + Video + Output;
}

/// <summary>Prices usage at the model's rates (credits per 1M tokens, from its manifest). Exact decimal arithmetic.</summary>
public static class Pricing
{
    private const decimal PerMillion = 1_000_000m;

    public static Charge Price(ModelManifest model, TokenUsage usage) => new(
        Amount(usage.TextInput, Rate(model.CreditRates.Input, "text")),
        Amount(usage.VisualInput, Rate(model.CreditRates.Input, "visual")),
        Amount(usage.VideoInput, Rate(model.CreditRates.Input, "video")),
        Amount(usage.TextOutput, Rate(model.CreditRates.Output, "text")));

    private static decimal Rate(IReadOnlyDictionary<string, decimal> rates, string modality) =>
        rates.TryGetValue(modality, out var rate) ? rate : 0m;

    private static decimal Amount(long tokens, decimal ratePerMillion) =>
        tokens == 0 ? 0m : Math.Round(tokens * ratePerMillion / PerMillion, 12, MidpointRounding.AwayFromZero);
}

/// <summary>
/// The <c>usage</c> block of seed 002: token counts plus <c>credits_charged</c> and its <c>breakdown</c>. Chat adds
/// <c>completion_tokens</c> and an <c>output</c> breakdown; both are omitted for embeddings, as the seed shows.
/// </summary>
public sealed record UsageBlock(
    [property: JsonPropertyName("prompt_tokens")] long PromptTokens,
    [property: JsonPropertyName("completion_tokens"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long? CompletionTokens,
    [property: JsonPropertyName("total_tokens")] long TotalTokens,
    [property: JsonPropertyName("credits_charged")] decimal CreditsCharged,
    [property: JsonPropertyName("breakdown")] UsageBreakdown Breakdown,
    [property: JsonPropertyName("completion_tokens_details"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] CompletionTokensDetails? CompletionTokensDetails = null,
    [property: JsonPropertyName("prompt_tokens_details"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] PromptTokensDetails? PromptTokensDetails = null)
{
    public static UsageBlock For(string model, TokenUsage usage, Charge charge, bool withCompletion = false, long? reasoningTokens = null) => new(
        usage.PromptTokens, withCompletion ? usage.TextOutput : null, usage.TotalTokens, Balance.Credits.Normalize(charge.Total),
        new UsageBreakdown(
            new InputBreakdown(Balance.Credits.Normalize(charge.Text), Balance.Credits.Normalize(charge.Visual), Balance.Credits.Normalize(charge.Video)),
            withCompletion ? new OutputBreakdown(Balance.Credits.Normalize(charge.Output)) : null,
            model),
        withCompletion && reasoningTokens is { } r ? new CompletionTokensDetails(r) : null,
        withCompletion && usage.VisualInput > 0 ? new PromptTokensDetails(usage.VisualInput) : null);
}

/// <summary>Chat with images: the visual tokens included in <c>prompt_tokens</c> (billed at the visual rate).</summary>
public sealed record PromptTokensDetails([property: JsonPropertyName("image_tokens")] long ImageTokens);

/// <summary>Chat only, as OpenAI's: the reasoning tokens included in <c>completion_tokens</c> (billed at the output rate).</summary>
public sealed record CompletionTokensDetails([property: JsonPropertyName("reasoning_tokens")] long ReasoningTokens);

public sealed record UsageBreakdown(
    [property: JsonPropertyName("input")] InputBreakdown Input,
    [property: JsonPropertyName("output"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] OutputBreakdown? Output,
    [property: JsonPropertyName("model")] string Model);

public sealed record InputBreakdown(
    [property: JsonPropertyName("text")] decimal Text,
    [property: JsonPropertyName("visual")] decimal Visual,
    [property: JsonPropertyName("video")] decimal Video);

public sealed record OutputBreakdown([property: JsonPropertyName("text")] decimal Text);
