using System.Net;

namespace Aurous.Dashboard.Tests.Accounts;

/// <summary>Signing in and out of the dashboard over real HTTP, with the development user a newcomer finds in dev.env.</summary>
[Collection(DashboardCollection.Name)]
public sealed class SignInTests(DashboardSystem fixture)
{
    [Fact]
    public async Task The_development_user_from_dev_env_signs_in_lands_on_the_development_team_and_signs_out()
    {
        using var browser = new FormBrowser(fixture.DashboardUrl, FormBrowser.Address(10));
        using (var anonymous = await browser.GetAsync("/"))
        {
            anonymous.StatusCode.ShouldBe(HttpStatusCode.Redirect);
            FormBrowser.PathOf(anonymous).ShouldContain("/account/sign-in?returnUrl=%2F");
        }

        using (var signedIn = await browser.SignInAsync(fixture.DevEmail, fixture.DevPassword, returnUrl: "/"))
        {
            signedIn.StatusCode.ShouldBe(HttpStatusCode.Redirect);
            FormBrowser.PathOf(signedIn).ShouldBe("/");
            var session = signedIn.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("aurous_session=", StringComparison.Ordinal));
            session.ShouldContain("httponly", Case.Insensitive);
            session.ShouldContain("samesite=lax", Case.Insensitive);
        }

        string team;
        using (var home = await browser.GetAsync("/"))
        {
            home.StatusCode.ShouldBe(HttpStatusCode.Redirect);
            team = FormBrowser.PathOf(home);
        }
        team.ShouldStartWith("/teams/team_");
        var (page, html) = await browser.GetPageAsync(team);
        page.StatusCode.ShouldBe(HttpStatusCode.OK);
        html.ShouldContain("<h1>Development team</h1>");
        html.ShouldContain(fixture.DevEmail);
        html.ShouldContain("aria-label=\"Team\"");
        html.ShouldContain("href=\"/operators\""); // the development user is a platform operator
        html.ShouldContain("data-testid=\"balance-available\"");

        using (var signOut = await browser.SubmitAsync(team, "/account/sign-out", new Dictionary<string, string>()))
        {
            signOut.StatusCode.ShouldBe(HttpStatusCode.Redirect);
            FormBrowser.PathOf(signOut).ShouldBe("/account/sign-in");
        }
        using var after = await browser.GetAsync(team);
        after.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        FormBrowser.PathOf(after).ShouldContain("/account/sign-in");
    }

    [Fact]
    public async Task A_wrong_password_shows_an_alert_and_signs_nobody_in()
    {
        using var browser = new FormBrowser(fixture.DashboardUrl, FormBrowser.Address(11));
        using var refused = await browser.SignInAsync(fixture.DevEmail, "not the password at all");
        refused.StatusCode.ShouldBe(HttpStatusCode.OK);
        var html = await refused.Content.ReadAsStringAsync();
        html.ShouldContain("role=\"alert\"");
        html.ShouldContain("Invalid email or password");
        using var home = await browser.GetAsync("/");
        FormBrowser.PathOf(home).ShouldContain("/account/sign-in");
    }

    [Fact]
    public async Task Five_failures_lock_the_account_even_against_the_right_password()
    {
        var email = FormBrowser.NewEmail("lockout");
        using (var owner = new FormBrowser(fixture.DashboardUrl, FormBrowser.Address(12)))
        {
            await owner.SignUpAsync(email, FormBrowser.Password, "Lockout team");
        }
        using var browser = new FormBrowser(fixture.DashboardUrl, FormBrowser.Address(12));
        for (var i = 0; i < 5; i++)
        {
            using var wrong = await browser.SignInAsync(email, "wrong password " + i);
            wrong.StatusCode.ShouldBe(HttpStatusCode.OK);
        }
        using var locked = await browser.SignInAsync(email, FormBrowser.Password);
        locked.StatusCode.ShouldBe(HttpStatusCode.OK);
        var html = await locked.Content.ReadAsStringAsync();
        html.ShouldContain("role=\"alert\"");
        html.ShouldContain("locked");
    }

    [Fact]
    public async Task A_flood_of_sign_in_posts_from_one_address_is_answered_429()
    {
        using var browser = new FormBrowser(fixture.DashboardUrl, FormBrowser.Address(99));
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 30 && !statuses.Contains(HttpStatusCode.TooManyRequests); i++)
        {
            using var response = await browser.SignInAsync("nobody-" + i + "@example.test", "wrong password");
            statuses.Add(response.StatusCode);
        }
        statuses.ShouldContain(HttpStatusCode.TooManyRequests);
        statuses.Count(s => s == HttpStatusCode.OK).ShouldBeGreaterThanOrEqualTo(5); // honest attempts first get an answer

        // Another address is not affected.
        using var other = new FormBrowser(fixture.DashboardUrl, FormBrowser.Address(98));
        using var fine = await other.SignInAsync(fixture.DevEmail, fixture.DevPassword);
        fine.StatusCode.ShouldBe(HttpStatusCode.Redirect);
    }

    [Fact]
    public async Task A_form_post_without_the_antiforgery_token_is_refused()
    {
        using var browser = new FormBrowser(fixture.DashboardUrl, FormBrowser.Address(13));
        using var response = await browser.SubmitAsync("/account/sign-in", "sign-in",
            new Dictionary<string, string> { ["Input.Email"] = fixture.DevEmail, ["Input.Password"] = fixture.DevPassword }, withToken: false);
        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (response.Headers.TryGetValues("Set-Cookie", out var cookies) ? cookies : []).ShouldNotContain(c => c.StartsWith("aurous_session=", StringComparison.Ordinal));
    }
}
