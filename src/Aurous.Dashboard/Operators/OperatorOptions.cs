namespace Aurous.Dashboard.Operators;

/// <summary>Section <c>Operator</c>: the operators' password (an AppHost secret parameter; locally in state/secrets.json).</summary>
public sealed class OperatorOptions
{
    public const string Section = "Operator";
    public const int MinimumPasswordLength = 16;

    public string Password { get; set; } = "";
}
