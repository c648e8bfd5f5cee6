using System.Net;
using Npgsql;

namespace Aurous.Dashboard.Tests.Accounts;

/// <summary>Platform operators (the Identity role "operator"): the operators' page, credit grants and /hangfire.</summary>
[Collection(DashboardCollection.Name)]
public sealed class OperatorTests(DashboardSystem fixture)
{
    private NpgsqlDataSource Database => fixture.System.Database;

    [Fact]
    public async Task An_operator_grant_writes_one_ledger_entry_with_the_reason_and_the_operator_and_raises_the_balance()
    {
        using var customer = new FormBrowser(fixture.DashboardUrl, FormBrowser.Address(30));
        var team = await customer.SignUpAsync(FormBrowser.NewEmail("customer"), FormBrowser.Password, "Customer team");
        var before = await CreditsAsync(team);
        before.ShouldBe(0m); // a new team starts with no credits

        using var op = new FormBrowser(fixture.DashboardUrl, FormBrowser.Address(31));
        await op.SignInOrFailAsync(fixture.DevEmail, fixture.DevPassword);
        var (page, html) = await op.GetPageAsync("/operators");
        page.StatusCode.ShouldBe(HttpStatusCode.OK);
        html.ShouldContain("<h1>Operators</h1>");
        html.ShouldContain($"data-team-id=\"{team}\"");

        var reason = "Welcome credits " + Guid.NewGuid().ToString("N")[..8];
        var result = await op.SubmitForPageAsync("/operators", "grant", new Dictionary<string, string>
        {
            ["Grant.TeamId"] = team, ["Grant.Credits"] = "250.5", ["Grant.Reason"] = reason,
        });
        result.ShouldContain("role=\"status\"");
        result.ShouldContain("Granted 250.5 credits");

        await using var cmd = Database.CreateCommand("""
            SELECT e.kind, e.amount, e.description, e.created_by, u."Email"
            FROM ledger_entries e LEFT JOIN identity."AspNetUsers" u ON u."Id" = e.created_by WHERE e.team_id = @t
            """);
        cmd.Parameters.AddWithValue("t", team);
        var entries = new List<(string Kind, decimal Amount, string Description, string? CreatedBy, string? Email)>();
        await using (var reader = await cmd.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                entries.Add((reader.GetString(0), reader.GetDecimal(1), reader.GetString(2), reader.IsDBNull(3) ? null : reader.GetString(3), reader.IsDBNull(4) ? null : reader.GetString(4)));
            }
        }
        entries.Count.ShouldBe(1);
        entries[0].Kind.ShouldBe("grant");
        entries[0].Amount.ShouldBe(250.5m);
        entries[0].Description.ShouldBe(reason);
        entries[0].Email.ShouldBe(fixture.DevEmail);
        (await CreditsAsync(team)).ShouldBe(250.5m);

        var invalid = await op.SubmitForPageAsync("/operators", "grant", new Dictionary<string, string>
        {
            ["Grant.TeamId"] = team, ["Grant.Credits"] = "-5", ["Grant.Reason"] = reason,
        });
        invalid.ShouldContain("role=\"alert\"");
        (await CreditsAsync(team)).ShouldBe(250.5m);
    }

    [Fact]
    public async Task Only_operators_reach_the_operators_page_and_the_jobs_dashboard()
    {
        using (var anonymous = new FormBrowser(fixture.DashboardUrl))
        {
            foreach (var path in new[] { "/hangfire", "/operators" })
            {
                using var response = await anonymous.GetAsync(path);
                response.StatusCode.ShouldBe(HttpStatusCode.Redirect, path);
                FormBrowser.PathOf(response).ShouldContain("/account/sign-in");
            }
        }

        using var customer = new FormBrowser(fixture.DashboardUrl, FormBrowser.Address(32));
        await customer.SignUpAsync(FormBrowser.NewEmail("customer"), FormBrowser.Password, "Not operators");
        using (var hangfire = await customer.GetAsync("/hangfire"))
        {
            hangfire.StatusCode.ShouldBe(HttpStatusCode.Forbidden);
            (await hangfire.Content.ReadAsStringAsync()).ShouldNotContain("Aurous jobs");
        }
        var (operators, html) = await customer.GetPageAsync("/operators");
        operators.StatusCode.ShouldBe(HttpStatusCode.NotFound);
        html.ShouldNotContain("Grant credits");
        using (var forged = await customer.ForgeAsync("/operators", "grant", new Dictionary<string, string>
        {
            ["Grant.TeamId"] = "team_x", ["Grant.Credits"] = "1000", ["Grant.Reason"] = "forged",
        }))
        {
            (await forged.Content.ReadAsStringAsync()).ShouldNotContain("Granted");
        }

        using var op = new FormBrowser(fixture.DashboardUrl, FormBrowser.Address(33));
        await op.SignInOrFailAsync(fixture.DevEmail, fixture.DevPassword);
        using var dashboard = await op.GetAsync("/hangfire");
        dashboard.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await dashboard.Content.ReadAsStringAsync()).ShouldContain("Aurous jobs");
    }

    private async Task<decimal> CreditsAsync(string team)
    {
        await using var cmd = Database.CreateCommand("SELECT credits FROM team_balances WHERE team_id = @t");
        cmd.Parameters.AddWithValue("t", team);
        return (decimal)(await cmd.ExecuteScalarAsync())!;
    }
}
