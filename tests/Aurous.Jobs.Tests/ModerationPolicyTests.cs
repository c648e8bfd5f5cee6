using Aurous.InferenceWorker.Jobs.Moderation;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Aurous.Jobs.Tests;

/// <summary>The moderation policy as the worker ships it (its appsettings.json), and the normaliser under it.</summary>
public sealed class ModerationPolicyTests
{
    private static readonly ModerationPolicy Shipped = new(Options.Create(ShippedOptions()));

    private static ModerationOptions ShippedOptions()
    {
        var root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "Aurous.sln")))
        {
            root = Path.GetDirectoryName(root) ?? throw new InvalidOperationException("repository root not found");
        }
        var config = new ConfigurationBuilder().AddJsonFile(Path.Combine(root, "src", "Aurous.InferenceWorker", "appsettings.json")).Build();
        return config.GetSection(ModerationOptions.Section).Get<ModerationOptions>()!;
    }

    [Fact]
    public void The_shipped_policy_is_valid_and_has_the_sexual_minors_category()
    {
        var options = ShippedOptions();
        ModerationPolicy.Problems(options).ShouldBeEmpty();
        options.Categories.Select(c => c.Code).ShouldContain("sexual_minors");
    }

    [Theory]
    [InlineData("A confident woman in lace lingerie, soft studio lighting, cinematic")]
    [InlineData("A child building a sandcastle on the beach, golden hour")]
    [InlineData("Portrait of a 12 year old girl holding a trophy, school photo")]
    [InlineData("Teen wizard casting a spell, fantasy art")]
    [InlineData("Canteen in Essex with striped tablecloths")]
    [InlineData("Nude beige sofa in a minimalist living room")]
    [InlineData("A mother and baby in a sunny park")]
    [InlineData("Rapeseed fields in bloom, drone shot")]
    public void Ordinary_prompts_pass(string prompt) => Shipped.Evaluate(prompt).ShouldBeNull();

    [Theory]
    [InlineData("naked child")]
    [InlineData("a sexy 14 year old")]
    [InlineData("sexy 14-year-old girl")]
    [InlineData("nude 15yo")]
    [InlineData("Underage girl in lingerie")]
    [InlineData("NSFW schoolgirl")]
    [InlineData("loli")]
    [InlineData("ｎａｋｅｄ ｃｈｉｌｄ")] // full-width letters (NFKC)
    [InlineData("N.A.K.E.D kid")] // separators between letters
    [InlineData("n a k e d teen")]
    [InlineData("s3xy t33n")] // digits for letters
    [InlineData("$exy preteen")] // symbols for letters
    [InlineData("nâkéd chïld")] // accents
    [InlineData("na\u200Bked ch\u200Bild")] // zero-width spaces
    [InlineData("n\u0430ked chil\u0501")] // Cyrillic look-alike letters
    [InlineData("\U0001D427\U0001D41A\U0001D424\U0001D41E\U0001D41D child")] // mathematical bold letters
    [InlineData("sexxxy kid")] // repeated letters
    public void Sexual_content_involving_minors_is_rejected_as_sexual_minors(string prompt)
    {
        var verdict = Shipped.Evaluate(prompt);
        verdict.ShouldNotBeNull();
        verdict.Code.ShouldBe("sexual_minors");
        verdict.Message.ShouldNotContain("naked", Case.Insensitive);
    }

    [Fact]
    public void Sexual_violence_is_rejected_with_its_own_code() =>
        Shipped.Evaluate("a woman being raped")!.Code.ShouldBe("sexual_violence");

    [Fact]
    public void A_rule_needs_every_group_and_a_category_any_rule()
    {
        var policy = new ModerationPolicy(Options.Create(new ModerationOptions
        {
            Categories =
            [
                new ModerationCategory
                {
                    Code = "test_code", Message = "refused",
                    Rules = [new ModerationRule { AllOf = [["red*"], ["#3..5 cars", "blue car"]] }, new ModerationRule { AllOf = [["forbidden"]] }],
                },
            ],
        }));
        policy.Evaluate("reddish 4 cars")!.Code.ShouldBe("test_code");
        policy.Evaluate("red blue car")!.Code.ShouldBe("test_code");
        policy.Evaluate("something forbidden")!.Code.ShouldBe("test_code");
        policy.Evaluate("red 6 cars").ShouldBeNull();
        policy.Evaluate("4 cars").ShouldBeNull();
        policy.Evaluate("blue red").ShouldBeNull();
    }

    [Fact]
    public void A_disabled_policy_passes_everything()
    {
        var options = ShippedOptions();
        options.Enabled = false;
        new ModerationPolicy(Options.Create(options)).Evaluate("naked child").ShouldBeNull();
    }

    [Fact]
    public void A_malformed_policy_is_reported()
    {
        var problems = ModerationPolicy.Problems(new ModerationOptions
        {
            Categories =
            [
                new ModerationCategory { Code = "", Message = "m", Rules = [new ModerationRule { AllOf = [["x"]] }] },
                new ModerationCategory { Code = "c", Message = "m", Rules = [] },
                new ModerationCategory { Code = "d", Message = "m", Rules = [new ModerationRule { AllOf = [["#9..1 years"]] }] },
            ],
        }).ToList();
        problems.Count.ShouldBe(3);
    }

    [Theory]
    [InlineData("Hello, World!", new[] { "hello", "world" })]
    [InlineData("12yo", new[] { "12", "yo" })]
    [InlineData("s.e.x", new[] { "sex" })]
    [InlineData("ﬁne ＡＲＴ", new[] { "fine", "art" })]
    public void The_normaliser_reads_words_as_documented(string text, string[] expected) =>
        PromptNormalizer.Words(text).ShouldBe(expected);
}
