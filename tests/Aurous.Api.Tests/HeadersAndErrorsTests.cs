using System.Net;
using System.Text;

namespace Aurous.Api.Tests;

[Collection(ApiCollection.Name)]
public sealed class HeadersAndErrorsTests(ApiFixture fixture)
{
    private const string RequestIdPattern = "^req_[0-9A-HJKMNP-TV-Z]{26}$";

    [Theory]
    [InlineData("/v1/balance", true)]
    [InlineData("/v1/balance", false)]
    [InlineData("/v1/nope", true)]
    [InlineData("/health", false)]
    public async Task Every_response_carries_a_request_id_and_the_applied_version(string path, bool authenticated)
    {
        var (_, key) = await fixture.System.CreateTeamAsync();
        using var client = fixture.System.CreateApiClient(authenticated ? key : null);
        using var response = await client.GetAsync(path);
        response.Headers.GetValues("Aurous-Request-Id").Single().ShouldMatch(RequestIdPattern);
        response.Headers.GetValues("Aurous-Version").Single().ShouldBe("2026-05-15");
    }

    [Fact]
    public async Task Request_ids_are_unique_per_request()
    {
        using var client = fixture.System.CreateApiClient();
        var ids = new List<string>();
        for (var i = 0; i < 20; i++)
        {
            using var response = await client.GetAsync("/v1/models");
            ids.Add(response.Headers.GetValues("Aurous-Request-Id").Single());
        }
        ids.Distinct().Count().ShouldBe(20);
    }

    [Theory]
    [InlineData("2026-05-15", "2026-05-15")]
    [InlineData("2026-12-31", "2026-05-15")]
    public async Task A_requested_version_is_resolved_and_echoed(string requested, string applied)
    {
        var (_, key) = await fixture.System.CreateTeamAsync();
        using var client = fixture.System.CreateApiClient(key);
        client.DefaultRequestHeaders.Add("Aurous-Version", requested);
        using var response = await client.GetAsync("/v1/balance");
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        response.Headers.GetValues("Aurous-Version").Single().ShouldBe(applied);
    }

    [Theory]
    [InlineData("2026/05/15", "invalid_api_version")]
    [InlineData("yesterday", "invalid_api_version")]
    [InlineData("2024-01-01", "unsupported_api_version")]
    public async Task A_bad_version_header_is_a_400(string requested, string code)
    {
        var (_, key) = await fixture.System.CreateTeamAsync();
        using var client = fixture.System.CreateApiClient(key);
        client.DefaultRequestHeaders.TryAddWithoutValidation("Aurous-Version", requested);
        using var response = await client.GetAsync("/v1/balance");
        await response.ShouldBeErrorAsync(400, "invalid_request", code);
        response.Headers.GetValues("Aurous-Version").Single().ShouldBe("2026-05-15");
    }

    [Fact]
    public async Task Unknown_routes_get_the_envelope_not_an_html_page()
    {
        using var client = fixture.System.CreateApiClient();
        await (await client.GetAsync("/v1/does-not-exist")).ShouldBeErrorAsync(404, "invalid_request", "route_not_found");
        await (await client.GetAsync("/")).ShouldBeErrorAsync(404, "invalid_request", "route_not_found");
    }

    [Fact]
    public async Task Wrong_methods_get_405_in_the_envelope()
    {
        var (_, key) = await fixture.System.CreateTeamAsync();
        using var client = fixture.System.CreateApiClient(key);
        using var content = new StringContent("{}", Encoding.UTF8, "application/json");
        await (await client.PostAsync("/v1/balance", content)).ShouldBeErrorAsync(405, "invalid_request", "method_not_allowed");
        await (await client.DeleteAsync("/v1/models")).ShouldBeErrorAsync(405, "invalid_request", "method_not_allowed");
    }

    [Fact]
    public async Task The_OpenAPI_document_describes_the_public_routes()
    {
        using var client = fixture.System.CreateApiClient();
        var doc = await client.GetStringAsync("/openapi/v1.json");
        doc.ShouldContain("\"/v1/models\"");
        doc.ShouldContain("\"/v1/models/{id}\"");
        doc.ShouldContain("\"/v1/balance\"");
        doc.ShouldNotContain("\"/health\"");
    }
}
