namespace Aurous.InferenceWorker.Jobs.Moderation;

/// <summary>
/// The prompt policy (section <c>Moderation</c>): categories, each with the reason code a rejected job reports in
/// <c>error.code</c> and rules over the normalised prompt. The policy itself lives in the worker's appsettings.json
/// (and can be replaced by an operator's configuration); docs/jobs.md describes the rule language.
/// </summary>
public sealed class ModerationOptions
{
    public const string Section = "Moderation";

    /// <summary>Off only for a deployment that moderates elsewhere; the default is on.</summary>
    public bool Enabled { get; set; } = true;

    public List<ModerationCategory> Categories { get; set; } = [];
}

public sealed class ModerationCategory
{
    /// <summary>The reason code, e.g. <c>sexual_minors</c>.</summary>
    public string Code { get; set; } = "";

    /// <summary>What the job's <c>error.message</c> says (never the matched words).</summary>
    public string Message { get; set; } = "";

    /// <summary>The category matches when any one rule matches.</summary>
    public List<ModerationRule> Rules { get; set; } = [];
}

/// <summary>
/// Matches when every group of <see cref="AllOf"/> has at least one term in the prompt. A term is a word or a phrase of
/// words; a word ending in <c>*</c> matches by prefix, and <c>#a..b</c> matches a whole number from a to b.
/// </summary>
public sealed class ModerationRule
{
    public List<List<string>> AllOf { get; set; } = [];
}
