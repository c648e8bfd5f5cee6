namespace Aurous.Accounts;

/// <summary>
/// First-run seed for a local installation: a development team with starting credits and one API key. Idempotent: if
/// the key remembered from the last run still authenticates it is reused, otherwise a new one is minted.
/// </summary>
public sealed class DevelopmentTeamSeeder(TeamStore teams, ApiKeyStore keys, Ledger ledger)
{
    public const string TeamName = "Development team";
    public const decimal StartingCredits = 1000m;

    public sealed record Result(string TeamId, string ApiKey, bool Created);

    public async Task<Result> EnsureAsync(string? rememberedKey, CancellationToken ct = default)
    {
        var teamId = await teams.FindByNameAsync(TeamName, ct);
        if (teamId is not null && rememberedKey is not null && await keys.IsUsableAsync(rememberedKey, ct))
        {
            return new Result(teamId, rememberedKey, Created: false);
        }
        var created = teamId is null;
        if (teamId is null)
        {
            teamId = await teams.CreateAsync(TeamName, ct);
            await ledger.GrantAsync(teamId, StartingCredits, "grant", "Development seed", ct);
        }
        var (_, plaintext) = await keys.CreateAsync(teamId, "Development key", ct: ct);
        return new Result(teamId, plaintext, created);
    }
}
