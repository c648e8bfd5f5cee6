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
    /// <summary>Nothing charged (a request whose hold was lost: the response must not claim a charge).</summary>
    public static readonly Charge None = new(0m, 0m, 0m, 0m);

    public decimal Total => Text + Visual + Video + Output;
}

/// <summary>
/// Prices usage at the model's rates (credits per 1M tokens, from its manifest). Exact decimal arithmetic: each
/// modality's amount is rounded once, half away from zero, to the ledger's 12 decimals; the total is their sum.
/// </summary>
public static class Pricing
{
    private const decimal PerMillion = 1_000_000m;
    private const int LedgerDecimals = 12;

    public static Charge Price(ModelManifest model, TokenUsage usage) => new(
        Amount(usage.TextInput, Rate(model.CreditRates.Input, "text")),
        Amount(usage.VisualInput, Rate(model.CreditRates.Input, "visual")),
        Amount(usage.VideoInput, Rate(model.CreditRates.Input, "video")),
        Amount(usage.TextOutput, Rate(model.CreditRates.Output, "text")));

    /// <summary>
    /// The price of <paramref name="tokens"/> output tokens of one <paramref name="modality"/> (an image generator's
    /// "image", a video generator's "video"), by the same rounding as every other charge.
    /// </summary>
    public static decimal OutputAmount(ModelManifest model, string modality, long tokens) => Amount(tokens, Rate(model.CreditRates.Output, modality));

    /// <summary>
    /// The charge, never more than <paramref name="hold"/>: a request is not charged past what it reserved (the hold is
    /// an upper bound by construction, so this only guards against a wrong estimate). Over the hold, each modality is
    /// scaled down (rounded toward zero) and the rounding remainder is given back to modalities that still have room,
    /// so the capped total is exactly the hold and no modality is charged more than its own price.
    /// </summary>
    public static Charge WithinHold(Charge charge, decimal hold)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(hold);
        if (charge.Total <= hold)
        {
            return charge;
        }
        var prices = new[] { charge.Text, charge.Visual, charge.Video, charge.Output };
        var scale = hold / charge.Total;
        var capped = prices.Select(p => Math.Round(p * scale, LedgerDecimals, MidpointRounding.ToZero)).ToArray();
        var remainder = hold - capped.Sum();
        for (var i = 0; i < capped.Length && remainder > 0; i++)
        {
            var room = Math.Min(remainder, prices[i] - capped[i]);
            capped[i] += room;
            remainder -= room;
        }
        return new Charge(capped[0], capped[1], capped[2], capped[3]);
    }

    private static decimal Rate(IReadOnlyDictionary<string, decimal> rates, string modality)
    {
        var rate = rates.TryGetValue(modality, out var r) ? r : 0m;
        ArgumentOutOfRangeException.ThrowIfNegative(rate, modality + " rate");
        return rate;
    }

    private static decimal Amount(long tokens, decimal ratePerMillion)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(tokens);
        return tokens == 0 ? 0m : Math.Round(tokens * ratePerMillion / PerMillion, LedgerDecimals, MidpointRounding.AwayFromZero);
    }
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
