using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Aurous.Dashboard.Tests.Browser;

/// <summary>A team signed up in the dashboard sees nothing of another team, and the other team's pages do not exist for it.</summary>
[Collection(DashboardCollection.Name)]
public sealed class IsolationFlowTests(DashboardSystem dashboard, ChromiumFixture chromium) : BrowserTest(dashboard, chromium), IClassFixture<ChromiumFixture>
{
    private static readonly string[] TeamPages = ["", "/keys", "/billing", "/usage", "/webhooks", "/jobs", "/members", "/settings"];

    [Fact]
    public Task A_second_team_sees_none_of_the_first_teams_keys_ledger_usage_jobs_or_webhooks() => FlowAsync(async first =>
    {
        // The first team has a key, a charged call and a webhook endpoint.
        await Ui.SignInAsync(first, Dashboard.DevEmail, Dashboard.DevPassword);
        var firstTeam = await Ui.TeamOverviewAsync(first);
        var keyName = "private " + Guid.NewGuid().ToString("N")[..6];
        var (keyId, secret) = await Ui.CreateKeyAsync(first, firstTeam, keyName);
        var (status, requestId) = await Api.EmbedAsync(System, secret);
        status.ShouldBe(200);
        var hookUrl = $"https://hooks.example.com/{Guid.NewGuid():N}";
        // Stored directly: the API checks that an endpoint's host resolves, and these tests reach no outside host.
        await using (var insert = System.Database.CreateCommand("""
            INSERT INTO webhook_endpoints (id, team_id, url, description, events, secret, status, created_at)
            VALUES (@id, @t, @url, 'first team', ARRAY['image.succeeded'], 'whsec_dGVzdA==', 'enabled', now())
            """))
        {
            insert.Parameters.AddWithValue("id", "we_" + Guid.NewGuid().ToString("N")[..26].ToUpperInvariant());
            insert.Parameters.AddWithValue("t", firstTeam);
            insert.Parameters.AddWithValue("url", hookUrl);
            await insert.ExecuteNonQueryAsync();
        }
        await first.GotoAsync($"/teams/{firstTeam}/webhooks");
        await Expect(first.Locator("table:has(caption:text-is('Webhook endpoints'))")).ToContainTextAsync(hookUrl);
        var firstJobs = await FirstTeamJobIdsAsync(firstTeam);

        var second = await NewUserAsync();
        var secondTeam = await Ui.SignUpAsync(second, Ui.NewEmail("other"), Ui.NewPassword, "Other team " + Guid.NewGuid().ToString("N")[..6]);
        secondTeam.ShouldNotBe(firstTeam);

        await second.GotoAsync($"/teams/{secondTeam}/keys");
        await Expect(second.Locator("table:has(caption:text-is('API keys'))")).ToBeVisibleAsync();
        await Expect(Ui.KeyRows(second)).ToHaveCountAsync(0);
        (await second.ContentAsync()).ShouldNotContain(keyName);
        await second.GotoAsync($"/teams/{secondTeam}/billing");
        await Expect(second.GetByTestId("balance-credits")).ToHaveTextAsync("0");
        await Expect(second.Locator("table:has(caption:text-is('Ledger'))")).Not.ToContainTextAsync(requestId!);
        await second.GotoAsync($"/teams/{secondTeam}/billing/requests/{requestId}");
        await Expect(second.GetByText($"No receipt for request {requestId}")).ToBeVisibleAsync();
        await second.GotoAsync($"/teams/{secondTeam}/usage");
        await Expect(second.Locator("table:has(caption:text-is('Usage by model and modality'))")).Not.ToContainTextAsync(Api.EmbeddingModel);
        var csv = await second.Context.APIRequest.GetAsync($"/teams/{secondTeam}/usage.csv");
        csv.Status.ShouldBe(200);
        (await csv.TextAsync()).ShouldNotContain(Api.EmbeddingModel);
        await second.GotoAsync($"/teams/{secondTeam}/webhooks");
        await Expect(second.Locator("table:has(caption:text-is('Webhook endpoints'))")).Not.ToContainTextAsync(hookUrl);
        await second.GotoAsync($"/teams/{secondTeam}/jobs");
        var jobsText = await second.Locator("main").InnerTextAsync();
        foreach (var job in firstJobs)
        {
            jobsText.ShouldNotContain(job);
        }

        // The first team's addresses are "Not found" (404) for the second team, never "forbidden".
        foreach (var page in TeamPages.Append($"/billing/requests/{requestId}"))
        {
            var response = await second.GotoAsync($"/teams/{firstTeam}{page}");
            response!.Status.ShouldBe(404, $"/teams/{firstTeam}{page}");
            await Expect(second.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync("Not found");
            (await second.ContentAsync()).ShouldNotContain(keyName);
        }
        await VisitedAsync(second, "not-found");
        (await second.Context.APIRequest.GetAsync($"/teams/{firstTeam}/usage.csv")).Status.ShouldBe(404);
        // And the first team's key is untouched.
        (await Api.EmbedAsync(System, secret)).Status.ShouldBe(200);
        await first.GotoAsync($"/teams/{firstTeam}/keys");
        await Expect(Ui.KeyRow(first, keyId)).ToContainTextAsync("Active");
    });

    private async Task<IReadOnlyList<string>> FirstTeamJobIdsAsync(string teamId)
    {
        await using var cmd = System.Database.CreateCommand("SELECT id FROM generation_jobs WHERE team_id = @t");
        cmd.Parameters.AddWithValue("t", teamId);
        var ids = new List<string>();
        await using var reader = await cmd.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            ids.Add(reader.GetString(0));
        }
        return ids;
    }
}
