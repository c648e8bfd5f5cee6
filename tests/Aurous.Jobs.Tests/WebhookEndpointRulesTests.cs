using Aurous.Jobs.Webhooks;

namespace Aurous.Jobs.Tests;

/// <summary>The webhook endpoint rules the API and the dashboard share: URL form and address, event names, description.</summary>
public sealed class WebhookEndpointRulesTests
{
    [Theory]
    [InlineData("ftp://8.8.8.8/hook", "invalid_webhook_url")]
    [InlineData("/relative/hook", "invalid_webhook_url")]
    [InlineData("", "invalid_webhook_url")]
    [InlineData("https://user:secret@8.8.8.8/hook", "invalid_webhook_url")]
    [InlineData("http://127.0.0.1:8080/hook", "webhook_url_forbidden")]
    [InlineData("https://10.1.2.3/hook", "webhook_url_forbidden")]
    [InlineData("https://[::1]/hook", "webhook_url_forbidden")]
    [InlineData("http://localhost/hook", "webhook_url_forbidden")]
    public async Task A_url_that_is_not_public_http_is_refused_with_its_code(string url, string code)
    {
        var problem = await WebhookEndpointRules.CheckUrlAsync(url, allowPrivateNetworks: false, CancellationToken.None);

        problem.ShouldNotBeNull();
        problem.Field.ShouldBe("url");
        problem.Code.ShouldBe(code);
    }

    [Fact]
    public async Task A_refused_host_name_is_not_answered_with_the_address_it_resolved_to()
    {
        var problem = await WebhookEndpointRules.CheckUrlAsync("http://localhost/hook", allowPrivateNetworks: false, CancellationToken.None);

        problem.ShouldNotBeNull().Code.ShouldBe("webhook_url_forbidden");
        problem.Message.ShouldContain("'localhost'");
        problem.Message.ShouldNotContain("127.0.0.1");
    }

    [Fact]
    public async Task A_url_longer_than_the_limit_is_refused()
    {
        var url = "https://8.8.8.8/" + new string('a', WebhookEndpointRules.MaxUrlLength);

        var problem = await WebhookEndpointRules.CheckUrlAsync(url, allowPrivateNetworks: false, CancellationToken.None);

        problem.ShouldNotBeNull().Code.ShouldBe("invalid_webhook_url");
        problem.Message.ShouldContain(WebhookEndpointRules.MaxUrlLength.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task A_public_address_passes_and_loopback_passes_only_when_private_networks_are_allowed()
    {
        (await WebhookEndpointRules.CheckUrlAsync("https://8.8.8.8/hook", false, CancellationToken.None)).ShouldBeNull();
        (await WebhookEndpointRules.CheckUrlAsync("http://127.0.0.1:8080/hook", true, CancellationToken.None)).ShouldBeNull();
    }

    [Fact]
    public void Events_are_known_types_without_duplicates_in_the_order_given()
    {
        var (events, problem) = WebhookEndpointRules.CheckEvents(["video.failed", "image.succeeded", "video.failed"]);

        problem.ShouldBeNull();
        events.ShouldBe(["video.failed", "image.succeeded"]);
    }

    [Fact]
    public void An_unknown_event_type_or_none_at_all_is_refused()
    {
        var (unknownEvents, unknown) = WebhookEndpointRules.CheckEvents(["image.succeeded", "image.exploded"]);
        unknownEvents.ShouldBeNull();
        unknown.ShouldNotBeNull().Code.ShouldBe("invalid_webhook_event");
        unknown.Message.ShouldContain("'image.exploded'");
        unknown.Message.ShouldContain("image.succeeded");

        var (_, none) = WebhookEndpointRules.CheckEvents([]);
        none.ShouldNotBeNull().Code.ShouldBe("missing_required_parameter");
        none.Field.ShouldBe("events");
    }

    [Fact]
    public void A_description_over_the_limit_is_refused()
    {
        WebhookEndpointRules.CheckDescription(null).ShouldBeNull();
        WebhookEndpointRules.CheckDescription(new string('d', WebhookEndpointRules.MaxDescriptionLength)).ShouldBeNull();
        WebhookEndpointRules.CheckDescription(new string('d', WebhookEndpointRules.MaxDescriptionLength + 1))
            .ShouldNotBeNull().Code.ShouldBe("description_too_long");
    }
}
