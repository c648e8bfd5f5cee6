using Aurous.Accounts.Billing;
using Dapper;

namespace Aurous.Dashboard.Tests.Billing;

/// <summary>Receipts and the usage report against real Postgres, from charges made by real API calls.</summary>
[Collection(DashboardCollection.Name)]
public sealed class ReceiptAndUsageTests(DashboardSystem fixture)
{
    private async Task<decimal> ChargedAsync(string teamId)
    {
        await using var conn = await fixture.System.Database.OpenConnectionAsync();
        return -await conn.ExecuteScalarAsync<decimal>(
            "SELECT COALESCE(sum(amount), 0) FROM ledger_entries WHERE team_id = @teamId AND kind = 'charge'", new { teamId });
    }

    [Fact]
    public async Task A_receipt_is_found_by_request_id_with_tokens_rates_and_amount_only_within_its_team()
    {
        var (teamA, keyA) = await fixture.System.CreateTeamAsync(credits: 5m);
        var (teamB, _) = await fixture.System.CreateTeamAsync(credits: 5m);
        var call = await ApiTraffic.ChatAsync(fixture.System, keyA, "Why is the sky blue?");
        await using var conn = await fixture.System.Database.OpenConnectionAsync();
        var keyId = await conn.ExecuteScalarAsync<string>("SELECT id FROM api_keys WHERE team_id = @teamA", new { teamA });

        var receipt = await new Receipts(fixture.System.Database).FindByRequestIdAsync(teamA, call.RequestId);

        receipt.ShouldNotBeNull();
        receipt.RequestId.ShouldBe(call.RequestId);
        receipt.Model.ShouldBe(ApiTraffic.ChatModel);
        receipt.ApiKeyId.ShouldBe(keyId);
        receipt.Endpoint.ShouldNotBeNullOrWhiteSpace();
        receipt.Lines.Select(l => (l.Direction, l.Modality, l.Tokens, l.RatePerMillion)).ShouldBe([
            ("input", "text", call.InputTokens, 0.21m),
            ("output", "text", call.OutputTokens, 0.84m),
        ]);
        receipt.Lines[0].Credits.ShouldBe(call.InputTokens * 0.21m / 1_000_000m);
        receipt.Lines[1].Credits.ShouldBe(call.OutputTokens * 0.84m / 1_000_000m);
        receipt.Amount.ShouldBe(receipt.Lines.Sum(l => l.Credits));
        receipt.Amount.ShouldBe(await ChargedAsync(teamA));

        (await new Receipts(fixture.System.Database).FindByRequestIdAsync(teamB, call.RequestId)).ShouldBeNull();
        (await new Receipts(fixture.System.Database).FindByRequestIdAsync(teamA, "req_00000000000000000000000000")).ShouldBeNull();
    }

    [Fact]
    public async Task The_usage_report_adds_up_to_the_teams_ledger_charges_by_day_and_by_model()
    {
        var (teamId, key) = await fixture.System.CreateTeamAsync(credits: 5m);
        var (otherTeam, otherKey) = await fixture.System.CreateTeamAsync(credits: 5m);
        var calls = new List<ChargedCall>
        {
            await ApiTraffic.ChatAsync(fixture.System, key, "One."),
            await ApiTraffic.ChatAsync(fixture.System, key, "Two, a little longer."),
            await ApiTraffic.EmbedAsync(fixture.System, key),
        };
        await ApiTraffic.EmbedAsync(fixture.System, otherKey, "Another team's words are not ours.");

        var report = await new UsageReports(fixture.System.Database, TimeProvider.System).LastDaysAsync(teamId);

        var charged = await ChargedAsync(teamId);
        charged.ShouldBeGreaterThan(0m);
        report.TotalCredits.ShouldBe(charged);
        report.ByDay.Sum(d => d.Credits).ShouldBe(charged);
        report.ByModel.Sum(m => m.Credits).ShouldBe(charged);
        report.TotalTokens.ShouldBe(calls.Sum(c => c.InputTokens + c.OutputTokens));
        report.ByDay.Count.ShouldBe(UsageReport.WindowDays);
        report.ByDay[^1].Date.ShouldBe(DateOnly.FromDateTime(DateTime.UtcNow));
        report.ByDay[^1].Tokens.ShouldBe(report.TotalTokens);

        report.ByModel.Select(m => (m.Model, m.Direction, m.Modality, m.Tokens)).OrderBy(m => m.ToString()).ShouldBe(new[]
        {
            (ApiTraffic.ChatModel, "input", "text", calls.Where(c => c.Model == ApiTraffic.ChatModel).Sum(c => c.InputTokens)),
            (ApiTraffic.ChatModel, "output", "text", calls.Sum(c => c.OutputTokens)),
            (ApiTraffic.EmbeddingModel, "input", "text", calls.Where(c => c.Model == ApiTraffic.EmbeddingModel).Sum(c => c.InputTokens)),
        }.OrderBy(m => m.ToString()));

        var other = await new UsageReports(fixture.System.Database, TimeProvider.System).LastDaysAsync(otherTeam);
        other.Rows.ShouldAllBe(r => r.Model == ApiTraffic.EmbeddingModel);
        other.TotalCredits.ShouldBe(await ChargedAsync(otherTeam));
    }

    [Fact]
    public async Task Days_outside_the_window_are_not_counted()
    {
        var (teamId, key) = await fixture.System.CreateTeamAsync(credits: 5m);
        await ApiTraffic.ChatAsync(fixture.System, key);
        var today = DateOnly.FromDateTime(DateTime.UtcNow);

        var yesterday = await new UsageReports(fixture.System.Database, TimeProvider.System).ForDaysAsync(teamId, today.AddDays(-1), today.AddDays(-1));
        var later = await new UsageReports(fixture.System.Database, TimeProvider.System).ForDaysAsync(teamId, today.AddDays(1), today.AddDays(30));

        yesterday.Rows.ShouldBeEmpty();
        later.Rows.ShouldBeEmpty();
        later.ByDay.Count.ShouldBe(30);
        later.ByDay.ShouldAllBe(d => d.Tokens == 0 && d.Credits == 0);
    }
}
