namespace Aurous.Dashboard.Identity;

/// <summary>Section <c>Seed</c>: an account made (or brought up to date) when the dashboard starts.</summary>
public sealed class AccountSeedOptions
{
    public const string Section = "Seed";

    public string? Email { get; set; }
    public string? Password { get; set; }

    /// <summary>A team the account owns (found by name, or created without credits).</summary>
    public string? TeamName { get; set; }

    /// <summary>Whether the account is a platform operator.</summary>
    public bool Operator { get; set; }
}
