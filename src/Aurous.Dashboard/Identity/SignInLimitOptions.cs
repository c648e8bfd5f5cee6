namespace Aurous.Dashboard.Identity;

/// <summary>Section <c>SignIn</c>: how many sign-in attempts one client address may post per minute; more get 429.</summary>
public sealed class SignInLimitOptions
{
    public const string Section = "SignIn";

    public int AttemptsPerMinute { get; set; } = 20;
}
