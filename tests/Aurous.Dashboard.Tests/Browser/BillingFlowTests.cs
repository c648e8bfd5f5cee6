using System.Globalization;
using System.Text.Json;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Aurous.Dashboard.Tests.Browser;

/// <summary>A call made with a key shows on the billing page: the balance drops by its charge, the ledger lists it and
/// its receipt shows the tokens and the amount.</summary>
[Collection(DashboardCollection.Name)]
public sealed class BillingFlowTests(DashboardSystem dashboard, ChromiumFixture chromium) : BrowserTest(dashboard, chromium), IClassFixture<ChromiumFixture>
{
    [Fact]
    public Task The_balance_ledger_and_receipt_show_the_charge_of_the_call_just_made() => FlowAsync(async page =>
    {
        await Ui.SignInAsync(page, Dashboard.DevEmail, Dashboard.DevPassword);
        var teamId = await Ui.TeamOverviewAsync(page);
        var (keyId, secret) = await Ui.CreateKeyAsync(page, teamId, "billing " + Guid.NewGuid().ToString("N")[..6]);
        await page.GotoAsync($"/teams/{teamId}/billing");
        var creditsBefore = await NumberAsync(page, "balance-credits");

        var (status, requestId) = await Api.EmbedAsync(System, secret);
        status.ShouldBe(200);
        requestId.ShouldNotBeNullOrEmpty();
        var receipt = await ReceiptAsync(teamId, requestId);
        receipt.KeyId.ShouldBe(keyId);

        await page.GotoAsync($"/teams/{teamId}/billing");
        await VisitedAsync(page, "billing", docs: "billing");
        (await NumberAsync(page, "balance-credits")).ShouldBe(creditsBefore - receipt.Amount, 0.000001m);
        (await NumberAsync(page, "balance-available")).ShouldBe(await NumberAsync(page, "balance-credits") - await NumberAsync(page, "balance-held"), 0.000001m);
        var ledger = page.Locator("table:has(caption:text-is('Ledger'))");
        // Newest first: the charge is the first row.
        var first = ledger.Locator("tbody tr").First;
        await Expect(first).ToContainTextAsync(requestId);
        await Expect(first).ToContainTextAsync("charge", new() { IgnoreCase = true });
        await Expect(first).ToContainTextAsync(Display(receipt.Amount));

        // The kind filter keeps the charge; a filter for grants drops it.
        await page.GetByLabel("Kind", new() { Exact = true }).SelectOptionAsync("grant");
        await Ui.Button(page, "Filter").ClickAsync();
        await page.WaitForURLAsync(u => u.Contains("grant", StringComparison.Ordinal));
        await Expect(ledger).Not.ToContainTextAsync(requestId);
        await page.GetByLabel("Kind", new() { Exact = true }).SelectOptionAsync("charge");
        await Ui.Button(page, "Filter").ClickAsync();
        await Expect(ledger.Locator("tbody tr").First).ToContainTextAsync(requestId);

        // The charge's request id opens its receipt.
        await ledger.GetByRole(AriaRole.Link, new() { Name = requestId }).ClickAsync();
        await page.WaitForURLAsync($"**/teams/{teamId}/billing/requests/{requestId}");
        await ExpectReceiptAsync(page, requestId, receipt);
        await VisitedAsync(page, "receipt", docs: "receipt");

        // And so does the search by request id.
        await page.GotoAsync($"/teams/{teamId}/billing");
        await page.GetByLabel("Request id", new() { Exact = true }).FillAsync(requestId);
        await Ui.Button(page, "Find receipt").ClickAsync();
        await page.WaitForURLAsync($"**/teams/{teamId}/billing/requests/{requestId}");
        await ExpectReceiptAsync(page, requestId, receipt);

        await page.GotoAsync($"/teams/{teamId}/billing/requests/req_unknown");
        await Expect(page.GetByText("No receipt for request req_unknown")).ToBeVisibleAsync();
    });

    [Fact]
    public Task The_usage_page_charts_and_tables_count_the_call_and_the_CSV_has_the_same_numbers() => FlowAsync(async page =>
    {
        await Ui.SignInAsync(page, Dashboard.DevEmail, Dashboard.DevPassword);
        var teamId = await Ui.TeamOverviewAsync(page);
        var (_, secret) = await Ui.CreateKeyAsync(page, teamId, "usage " + Guid.NewGuid().ToString("N")[..6]);
        var (status, requestId) = await Api.EmbedAsync(System, secret);
        status.ShouldBe(200);
        var receipt = await ReceiptAsync(teamId, requestId!);

        await page.GotoAsync($"/teams/{teamId}/usage");
        await VisitedAsync(page, "usage", docs: "usage");
        await Expect(page.GetByRole(AriaRole.Img, new() { Name = "Credits by day" })).ToBeVisibleAsync();
        await Expect(page.GetByRole(AriaRole.Img, new() { Name = "Tokens by model" })).ToBeVisibleAsync();
        var byModel = page.Locator("table:has(caption:text-is('Usage by model and modality'))");
        await Expect(byModel).ToContainTextAsync(Api.EmbeddingModel);
        await Expect(page.Locator("table:has(caption:text-is('Usage by day'))")).ToContainTextAsync(receipt.CreatedAt.UtcDateTime.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));

        var csvLink = page.GetByRole(AriaRole.Link, new() { Name = "Download CSV" });
        new Uri(new Uri(page.Url), await csvLink.GetAttributeAsync("href")).AbsolutePath.ShouldBe($"/teams/{teamId}/usage.csv");
        var csv = await page.Context.APIRequest.GetAsync($"/teams/{teamId}/usage.csv");
        csv.Status.ShouldBe(200);
        csv.Headers["content-type"].ShouldStartWith("text/csv");
        var lines = (await csv.TextAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        lines[0].ShouldBe("date,model,modality,direction,tokens,credits");
        var embedRows = lines.Skip(1).Where(l => l.Split(',')[1] == Api.EmbeddingModel).ToList();
        embedRows.ShouldNotBeEmpty();
        // The CSV has a row per day; the table sums the 30 days per model, direction and modality. Earlier flows may have
        // moved the clock, so the model's usage can span several days: each table row equals the sum of its CSV rows.
        foreach (var group in embedRows.Select(l => l.Split(',')).GroupBy(c => (Modality: c[2], Direction: c[3])))
        {
            var tokens = group.Sum(c => long.Parse(c[4], CultureInfo.InvariantCulture));
            var cells = byModel.Locator("tbody tr")
                .Filter(new() { Has = page.Locator("td:nth-child(1)", new() { HasTextString = Api.EmbeddingModel }) })
                .Filter(new() { Has = page.Locator($"td:nth-child(2):text-is('{group.Key.Direction}')") })
                .Filter(new() { Has = page.Locator($"td:nth-child(3):text-is('{group.Key.Modality}')") })
                .Locator("td");
            await Expect(cells.Nth(3)).ToHaveTextAsync(tokens.ToString(CultureInfo.InvariantCulture));
        }
    });

    private static async Task ExpectReceiptAsync(IPage page, string requestId, ReceiptRow receipt)
    {
        await Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync("Receipt");
        var main = page.Locator("main");
        await Expect(main).ToContainTextAsync(requestId);
        await Expect(main).ToContainTextAsync(Api.EmbeddingModel);
        await Expect(main).ToContainTextAsync(receipt.KeyId);
        await Expect(main).ToContainTextAsync(receipt.InputTextTokens.ToString(CultureInfo.InvariantCulture));
        await Expect(main).ToContainTextAsync(Display(receipt.Amount));
    }

    private static string Display(decimal amount) =>
        Math.Round(amount, 6, MidpointRounding.AwayFromZero).ToString("0.######", CultureInfo.InvariantCulture);

    private static async Task<decimal> NumberAsync(IPage page, string testId) =>
        decimal.Parse((await page.GetByTestId(testId).InnerTextAsync()).Trim(), NumberStyles.Number, CultureInfo.InvariantCulture);

    private sealed record ReceiptRow(string KeyId, decimal Amount, long InputTextTokens, DateTimeOffset CreatedAt);

    /// <summary>The receipt booked for the request (the charge settles as the response completes; allow it a moment).</summary>
    private async Task<ReceiptRow> ReceiptAsync(string teamId, string requestId)
    {
        for (var i = 0; ; i++)
        {
            await using var cmd = System.Database.CreateCommand(
                "SELECT api_key_id, amount, tokens::text, created_at FROM usage_receipts WHERE team_id = @t AND request_id = @r");
            cmd.Parameters.AddWithValue("t", teamId);
            cmd.Parameters.AddWithValue("r", requestId);
            await using var reader = await cmd.ExecuteReaderAsync();
            if (await reader.ReadAsync())
            {
                using var tokens = JsonDocument.Parse(reader.GetString(2));
                return new ReceiptRow(reader.GetString(0), reader.GetDecimal(1), tokens.RootElement.GetProperty("input").GetProperty("text").GetInt64(),
                    reader.GetFieldValue<DateTimeOffset>(3));
            }
            if (i == 100)
            {
                throw new ShouldAssertException($"no receipt for {requestId}");
            }
            await Task.Delay(100);
        }
    }
}
