namespace Aurous.Api.Balance;

/// <summary>Credit amounts as the API shows them.</summary>
public static class Credits
{
    /// <summary>Drops the trailing zeros Postgres numeric(24,12) carries, so 1000 serialises as 1000, not 1000.000000000000.</summary>
    public static decimal Normalize(decimal value) => value / 1.000000000000000000000000000000000m;
}
