using Aurous.Accounts;
using Aurous.Accounts.Billing;

namespace Aurous.Dashboard.Tests.Billing;

/// <summary>The billing page's ledger query against real Postgres, with entries booked by grants and real API calls.</summary>
[Collection(DashboardCollection.Name)]
public sealed class LedgerHistoryTests(DashboardSystem fixture)
{
    private LedgerHistory History => new(fixture.System.Database);

    [Fact]
    public async Task The_ledger_pages_fifty_at_a_time_newest_first_without_gaps_or_repeats_in_both_directions()
    {
        var (teamId, _) = await fixture.System.CreateTeamAsync(credits: 0m);
        var ledger = new Ledger(fixture.System.Database);
        for (var i = 1; i <= 120; i++)
        {
            await ledger.GrantAsync(teamId, i, "grant", $"grant {i}");
        }

        var first = await History.GetPageAsync(teamId, new LedgerFilter());
        var second = await History.GetPageAsync(teamId, new LedgerFilter(), before: first.Older);
        var third = await History.GetPageAsync(teamId, new LedgerFilter(), before: second.Older);

        first.Entries.Select(e => e.Amount).ShouldBe(Enumerable.Range(71, 50).Reverse().Select(i => (decimal)i));
        second.Entries.Select(e => e.Amount).ShouldBe(Enumerable.Range(21, 50).Reverse().Select(i => (decimal)i));
        third.Entries.Select(e => e.Amount).ShouldBe(Enumerable.Range(1, 20).Reverse().Select(i => (decimal)i));
        first.Newer.ShouldBeNull();
        third.Older.ShouldBeNull();
        first.Entries.Concat(second.Entries).Concat(third.Entries).Select(e => e.Id).Distinct().Count().ShouldBe(120);

        // Previous from the last page gives the middle page again, then the first, which has nothing newer.
        var back = await History.GetPageAsync(teamId, new LedgerFilter(), after: third.Newer);
        back.Entries.Select(e => e.Id).ShouldBe(second.Entries.Select(e => e.Id));
        var front = await History.GetPageAsync(teamId, new LedgerFilter(), after: back.Newer);
        front.Entries.Select(e => e.Id).ShouldBe(first.Entries.Select(e => e.Id));
        front.Newer.ShouldBeNull();
        front.Older.ShouldNotBeNull();

        // Cursors survive the trip through a link.
        LedgerCursor.TryParse(first.Older!.Value.ToString(), out var parsed).ShouldBeTrue();
        parsed.ShouldBe(first.Older.Value);
    }

    [Fact]
    public async Task The_ledger_filters_by_kind_and_by_utc_dates_and_shows_each_charges_request_id()
    {
        var (teamId, key) = await fixture.System.CreateTeamAsync(credits: 10m);
        await new Ledger(fixture.System.Database).GrantAsync(teamId, 5m, "purchase", "bought");
        var chat = await ApiTraffic.ChatAsync(fixture.System, key);
        var embed = await ApiTraffic.EmbedAsync(fixture.System, key);

        var all = await History.GetPageAsync(teamId, new LedgerFilter());
        all.Entries.Select(e => e.Kind).ShouldBe(["charge", "charge", "purchase", "grant"]);
        all.Older.ShouldBeNull();

        var charges = await History.GetPageAsync(teamId, new LedgerFilter(Kind: "charge"));
        charges.Entries.Select(e => e.RequestId).ShouldBe([embed.RequestId, chat.RequestId]);
        charges.Entries.ShouldAllBe(e => e.Amount < 0);
        (await History.GetPageAsync(teamId, new LedgerFilter(Kind: "grant"))).Entries.Single().Amount.ShouldBe(10m);
        (await History.GetPageAsync(teamId, new LedgerFilter(Kind: "refund"))).Entries.ShouldBeEmpty();

        var day = DateOnly.FromDateTime(all.Entries[0].CreatedAt.UtcDateTime);
        (await History.GetPageAsync(teamId, new LedgerFilter(From: day, To: day))).Entries.Count.ShouldBe(4);
        (await History.GetPageAsync(teamId, new LedgerFilter(Kind: "charge", From: day))).Entries.Count.ShouldBe(2);
        (await History.GetPageAsync(teamId, new LedgerFilter(From: day.AddDays(1)))).Entries.ShouldBeEmpty();
        (await History.GetPageAsync(teamId, new LedgerFilter(To: day.AddDays(-1)))).Entries.ShouldBeEmpty();

        await Should.ThrowAsync<ArgumentException>(() => History.GetPageAsync(teamId, new LedgerFilter(Kind: "bogus")));
    }

    [Fact]
    public async Task One_team_never_sees_another_teams_ledger()
    {
        var (teamA, keyA) = await fixture.System.CreateTeamAsync(credits: 3m);
        var (teamB, _) = await fixture.System.CreateTeamAsync(credits: 4m);
        await ApiTraffic.ChatAsync(fixture.System, keyA);

        var b = await History.GetPageAsync(teamB, new LedgerFilter());

        b.Entries.Single().Amount.ShouldBe(4m);
        (await History.GetPageAsync(teamA, new LedgerFilter())).Entries.Count.ShouldBe(2);
    }
}
