using System.Text.Json;
using Aurous.Api.Webhooks;

namespace Aurous.Api.Tests;

/// <summary>
/// POST /v1/webhook_endpoints bodies: the JSON shape is the API's, the value rules are shared with the dashboard; the
/// API answers the same 400 codes either way.
/// </summary>
public sealed class WebhookEndpointRequestTests
{
    private static async Task<(WebhookEndpointRequest? Request, string? Code)> ParseAsync(string json, bool allowPrivateNetworks = false)
    {
        using var document = JsonDocument.Parse(json);
        var (request, error) = await WebhookEndpointRequest.ParseAsync(document.RootElement.Clone(), allowPrivateNetworks, CancellationToken.None);
        if (error is not null)
        {
            error.Status.ShouldBe(400);
        }
        return (request, error?.Code);
    }

    [Theory]
    [InlineData("[]", "invalid_type")]
    [InlineData("""{"url": "https://8.8.8.8/h", "events": ["image.succeeded"], "secret": "x"}""", "unknown_parameter")]
    [InlineData("""{"events": ["image.succeeded"]}""", "missing_required_parameter")]
    [InlineData("""{"url": 5, "events": ["image.succeeded"]}""", "invalid_type")]
    [InlineData("""{"url": "https://8.8.8.8/h", "events": ["image.succeeded"], "description": 3}""", "invalid_type")]
    [InlineData("""{"url": "https://8.8.8.8/h"}""", "missing_required_parameter")]
    [InlineData("""{"url": "https://8.8.8.8/h", "events": "image.succeeded"}""", "invalid_type")]
    [InlineData("""{"url": "https://8.8.8.8/h", "events": [1]}""", "invalid_type")]
    [InlineData("""{"url": "https://8.8.8.8/h", "events": []}""", "missing_required_parameter")]
    [InlineData("""{"url": "https://8.8.8.8/h", "events": ["image.exploded"]}""", "invalid_webhook_event")]
    [InlineData("""{"url": "ftp://8.8.8.8/h", "events": ["image.succeeded"]}""", "invalid_webhook_url")]
    [InlineData("""{"url": "https://u:p@8.8.8.8/h", "events": ["image.succeeded"]}""", "invalid_webhook_url")]
    [InlineData("""{"url": "http://127.0.0.1:9/h", "events": ["image.succeeded"]}""", "webhook_url_forbidden")]
    public async Task A_bad_body_is_refused_with_the_same_code_as_before(string json, string code)
    {
        var (request, error) = await ParseAsync(json);

        request.ShouldBeNull();
        error.ShouldBe(code);
    }

    [Fact]
    public async Task A_too_long_description_is_refused()
    {
        var json = JsonSerializer.Serialize(new { url = "https://8.8.8.8/h", events = new[] { "image.succeeded" }, description = new string('d', 513) });

        (await ParseAsync(json)).Code.ShouldBe("description_too_long");
    }

    [Fact]
    public async Task A_good_body_parses_with_duplicate_events_dropped()
    {
        var (request, error) = await ParseAsync(
            """{"url": "http://127.0.0.1:9/h", "events": ["image.succeeded", "video.failed", "image.succeeded"], "description": "ci"}""",
            allowPrivateNetworks: true);

        error.ShouldBeNull();
        request.ShouldNotBeNull();
        request.Url.ShouldBe("http://127.0.0.1:9/h");
        request.Events.ShouldBe(["image.succeeded", "video.failed"]);
        request.Description.ShouldBe("ci");
    }
}
