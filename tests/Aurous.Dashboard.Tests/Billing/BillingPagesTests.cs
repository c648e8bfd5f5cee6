using System.Net;
using System.Text;
using AngleSharp.Html.Parser;
using Aurous.Accounts;
using Aurous.Accounts.Billing;
using Dapper;

namespace Aurous.Dashboard.Tests.Billing;

/// <summary>
/// The billing and usage pages and the CSV download over real HTTP, signed in as the seeded development user, whose
/// team is charged through the official SDK with the development key.
/// </summary>
[Collection(DashboardCollection.Name)]
public sealed class BillingPagesTests(DashboardSystem fixture)
{
    private async Task<string> DevTeamAsync()
    {
        await using var conn = await fixture.System.Database.OpenConnectionAsync();
        return await conn.ExecuteScalarAsync<string>("SELECT team_id FROM api_keys WHERE key_hash = @hash",
            new { hash = ApiKeySecret.Hash(fixture.DevEnv["AUROUS_API_KEY"]) }) ?? throw new InvalidOperationException("No team for the development key.");
    }

    private static AngleSharp.Html.Dom.IHtmlDocument Html(string html) => new HtmlParser().ParseDocument(html);

    [Fact]
    public async Task The_usage_csv_sends_anonymous_users_to_sign_in_and_is_not_found_for_non_members()
    {
        var devTeam = await DevTeamAsync();
        var (otherTeam, _) = await fixture.System.CreateTeamAsync(credits: 1m);
        using var anonymous = SignedInClient.Anonymous(fixture);
        using var member = await SignedInClient.SignInAsync(fixture, fixture.DevEmail, fixture.DevPassword);

        using var anonymousCsv = await anonymous.GetAsync($"/teams/{devTeam}/usage.csv");
        using var otherCsv = await member.GetAsync($"/teams/{otherTeam}/usage.csv");
        using var otherPage = await member.GetAsync($"/teams/{otherTeam}/billing");

        anonymousCsv.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        anonymousCsv.Headers.Location!.ToString().ShouldContain("/account/sign-in");
        otherCsv.StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await otherCsv.Content.ReadAsStringAsync()).ShouldNotContain("date,model");
        otherPage.StatusCode.ShouldBe(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task The_usage_csv_and_page_show_exactly_the_report_of_the_members_team()
    {
        var devTeam = await DevTeamAsync();
        await ApiTraffic.ChatAsync(fixture.System, fixture.DevEnv["AUROUS_API_KEY"], "Count to three.");
        using var member = await SignedInClient.SignInAsync(fixture, fixture.DevEmail, fixture.DevPassword);

        using var csv = await member.GetAsync($"/teams/{devTeam}/usage.csv");
        var page = Html(await member.GetStringAsync($"/teams/{devTeam}/usage"));

        csv.StatusCode.ShouldBe(HttpStatusCode.OK);
        csv.Content.Headers.ContentType!.MediaType.ShouldBe("text/csv");
        // The window is the dashboard's (its clock may have been moved by other tests): read it from the file name.
        var name = csv.Content.Headers.ContentDisposition!.FileNameStar ?? csv.Content.Headers.ContentDisposition.FileName!;
        var days = name.Trim('"')[^25..^4];
        var from = DateOnly.Parse(days[..10], System.Globalization.CultureInfo.InvariantCulture);
        var to = DateOnly.Parse(days[11..], System.Globalization.CultureInfo.InvariantCulture);
        to.DayNumber.ShouldBe(from.DayNumber + UsageReport.WindowDays - 1);
        var report = await new UsageReports(fixture.System.Database, TimeProvider.System).ForDaysAsync(devTeam, from, to);
        var rows = UsageCsvReader.Parse(Encoding.UTF8.GetString(await csv.Content.ReadAsByteArrayAsync()));
        rows.ShouldNotBeEmpty();
        rows.ShouldBe(report.Rows);

        page.QuerySelector("h1")!.TextContent.ShouldBe("Usage");
        page.QuerySelector("[data-testid='usage-total-credits']")!.TextContent.ShouldBe(CreditAmount.Display(report.TotalCredits));
        var dayBars = page.QuerySelectorAll("svg[aria-label='Credits by day'] rect.bar").Select(b => b.GetAttribute("data-value") ?? "").ToList();
        var dayRows = page.QuerySelectorAll("table[data-testid='table-by-day'] tbody tr").Select(r => r.Children[2].TextContent.Trim() + " credits").ToList();
        dayBars.Count.ShouldBe(UsageReport.WindowDays);
        dayBars.ShouldBe(dayRows);
        dayRows.ShouldBe(report.ByDay.Select(d => CreditAmount.Display(d.Credits) + " credits"));
        page.QuerySelectorAll("svg[aria-label='Tokens by model'] rect.bar").Length.ShouldBe(report.ByModel.Count);
    }

    [Fact]
    public async Task The_billing_page_lists_the_charge_and_opens_its_receipt_but_never_another_teams()
    {
        var devTeam = await DevTeamAsync();
        var call = await ApiTraffic.ChatAsync(fixture.System, fixture.DevEnv["AUROUS_API_KEY"], "Name a colour.");
        var (_, otherKey) = await fixture.System.CreateTeamAsync(credits: 1m);
        var foreign = await ApiTraffic.ChatAsync(fixture.System, otherKey, "Name a fruit.");
        using var member = await SignedInClient.SignInAsync(fixture, fixture.DevEmail, fixture.DevPassword);

        var billing = Html(await member.GetStringAsync($"/teams/{devTeam}/billing?kind=charge"));
        using var search = await member.GetAsync($"/teams/{devTeam}/billing?request={call.RequestId}");
        var receipt = Html(await member.GetStringAsync($"/teams/{devTeam}/billing/requests/{call.RequestId}"));
        var notOurs = Html(await member.GetStringAsync($"/teams/{devTeam}/billing/requests/{foreign.RequestId}"));
        var badFilter = Html(await member.GetStringAsync($"/teams/{devTeam}/billing?kind=bogus&from=yesterday"));

        billing.QuerySelector("h1")!.TextContent.ShouldBe("Billing");
        billing.QuerySelector("[data-testid='balance-available']")!.TextContent.ShouldNotBeNullOrWhiteSpace();
        var first = billing.QuerySelector("table tbody tr")!;
        first.Children[1].TextContent.ShouldBe("charge");
        first.QuerySelector("a")!.GetAttribute("href").ShouldBe($"/teams/{devTeam}/billing/requests/{call.RequestId}");
        search.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        search.Headers.Location!.ToString().ShouldEndWith($"/teams/{devTeam}/billing/requests/{call.RequestId}");

        receipt.QuerySelector("h1")!.TextContent.ShouldBe("Receipt");
        receipt.QuerySelector("[data-testid='receipt-request-id']")!.TextContent.ShouldBe(call.RequestId);
        receipt.QuerySelector("[data-testid='receipt-model']")!.TextContent.ShouldBe(ApiTraffic.ChatModel);
        receipt.QuerySelector("tr[data-direction='input'][data-modality='text']")!.Children[2].TextContent.ShouldBe(call.InputTokens.ToString(System.Globalization.CultureInfo.InvariantCulture));
        notOurs.QuerySelector("[role='alert']")!.TextContent.ShouldBe($"No receipt for request {foreign.RequestId}");
        notOurs.QuerySelector("[data-testid='receipt-request-id']").ShouldBeNull();
        badFilter.QuerySelector("[role='alert']")!.TextContent.ShouldContain("bogus");
    }

    [Fact]
    public async Task The_ledger_pages_by_next_and_previous_links_that_keep_the_filter()
    {
        var (member, teamId) = await SignedInClient.SignUpAsync(fixture);
        using var _ = member;
        var ledger = new Ledger(fixture.System.Database);
        for (var i = 1; i <= 60; i++)
        {
            await ledger.GrantAsync(teamId, i, i % 2 == 0 ? "grant" : "purchase", $"entry {i}");
        }
        var today = DateTime.UtcNow.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);

        static string[] Amounts(AngleSharp.Html.Dom.IHtmlDocument page) =>
            page.QuerySelectorAll("table tbody tr").Select(r => r.Children[2].TextContent).ToArray();
        static string? Link(AngleSharp.Html.Dom.IHtmlDocument page, string name) =>
            page.QuerySelectorAll("nav[aria-label='Ledger pages'] a").FirstOrDefault(a => a.TextContent == name)?.GetAttribute("href");

        var first = Html(await member.GetStringAsync($"/teams/{teamId}/billing"));
        Amounts(first).ShouldBe(Enumerable.Range(11, 50).Reverse().Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        first.QuerySelector("[data-testid='balance-credits']")!.TextContent.ShouldBe("1830");
        Link(first, "Previous").ShouldBeNull();
        var second = Html(await member.GetStringAsync(Link(first, "Next")!));
        Amounts(second).ShouldBe(Enumerable.Range(1, 10).Reverse().Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        Link(second, "Next").ShouldBeNull();
        var back = Html(await member.GetStringAsync(Link(second, "Previous")!));
        Amounts(back).ShouldBe(Amounts(first));

        var purchases = Html(await member.GetStringAsync($"/teams/{teamId}/billing?kind=purchase&from={today}&to={today}"));
        Amounts(purchases).Length.ShouldBe(30);
        purchases.QuerySelectorAll("table tbody tr").ShouldAllBe(r => r.Children[1].TextContent == "purchase");
        Link(purchases, "Next").ShouldBeNull();
        purchases.QuerySelector("select#ledger-kind option[selected]")!.GetAttribute("value").ShouldBe("purchase");
        var fewer = Html(await member.GetStringAsync($"/teams/{teamId}/billing?kind=grant"));
        Amounts(fewer).Length.ShouldBe(30);
        var none = Html(await member.GetStringAsync($"/teams/{teamId}/billing?kind=refund"));
        Amounts(none).ShouldBeEmpty();
    }
}
