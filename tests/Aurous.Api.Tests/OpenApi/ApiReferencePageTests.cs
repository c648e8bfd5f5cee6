using System.Net;
using System.Text.RegularExpressions;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aurous.Testing;

namespace Aurous.Api.Tests.OpenApi;

/// <summary>The API reference page at /docs: served in development from the API itself (no CDN), absent elsewhere.</summary>
[Collection(ApiCollection.Name)]
public sealed partial class ApiReferencePageTests(ApiFixture fixture)
{
    [Fact]
    public async Task In_development_docs_is_an_html_page_whose_scripts_the_api_serves_itself()
    {
        using var client = fixture.System.CreateApiClient();
        using var page = await client.GetAsync("/docs");
        page.StatusCode.ShouldBe(HttpStatusCode.OK);
        page.Content.Headers.ContentType!.MediaType.ShouldBe("text/html");
        var html = await page.Content.ReadAsStringAsync();
        html.ShouldContain("openapi/v1.json");

        var scripts = ScriptSources().Matches(html).Select(m => m.Groups["src"].Value).ToList();
        scripts.ShouldNotBeEmpty();
        foreach (var src in scripts)
        {
            Uri.TryCreate(src, UriKind.Absolute, out var absolute).ShouldBeFalse($"{src} would be fetched from {absolute?.Host}");
            using var script = await client.GetAsync(new Uri(page.RequestMessage!.RequestUri!, src));
            script.StatusCode.ShouldBe(HttpStatusCode.OK, src);
            (await script.Content.ReadAsByteArrayAsync()).Length.ShouldBeGreaterThan(1_000, src);
        }
    }

    [GeneratedRegex("<script[^>]*\\ssrc=\"(?<src>[^\"]+)\"", RegexOptions.IgnoreCase)]
    private static partial Regex ScriptSources();
}

/// <summary>An API that runs in Production.</summary>
public sealed class ProductionApiFixture : IAsyncLifetime
{
    public AurousTestApp System { get; private set; } = null!;

    public async Task InitializeAsync() => System = await AurousTestApp.StartAsync(only: ["api"], configure: app =>
    {
        var api = app.Resources.OfType<ProjectResource>().Single(r => r.Name == "api");
        app.CreateResourceBuilder(api).WithEnvironment("ASPNETCORE_ENVIRONMENT", "Production");
    });

    public async Task DisposeAsync() => await System.DisposeAsync();
}

public sealed class ApiReferencePageInProductionTests(ProductionApiFixture fixture) : IClassFixture<ProductionApiFixture>
{
    [Fact]
    public async Task Outside_development_docs_is_not_served_and_the_document_still_is()
    {
        using var client = fixture.System.CreateApiClient();
        await (await client.GetAsync("/docs")).ShouldBeErrorAsync(404, "invalid_request", "route_not_found");
        using var document = await client.GetAsync("/openapi/v1.json");
        document.StatusCode.ShouldBe(HttpStatusCode.OK);
    }
}
