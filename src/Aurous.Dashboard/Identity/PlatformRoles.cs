namespace Aurous.Dashboard.Identity;

/// <summary>Platform roles (Identity roles), apart from a member's role in a team.</summary>
public static class PlatformRoles
{
    /// <summary>Runs the platform: grants credits to any team and reaches the jobs dashboard.</summary>
    public const string Operator = "operator";

    /// <summary>The authorization policy that admits operators only.</summary>
    public const string OperatorPolicy = "operator";
}
