using System.Net;
using System.Net.Sockets;
using Aurous.Jobs.Webhooks;
using Microsoft.Extensions.Options;

namespace Aurous.EndToEnd.Tests.Webhooks;

/// <summary>One delivery attempt on real sockets: the address rule at connect time, the timeout, the result recorded.</summary>
public sealed class WebhookSenderTests : IAsyncLifetime
{
    private WebhookReceiver _receiver = null!;

    public async Task InitializeAsync() => _receiver = await WebhookReceiver.StartAsync();

    public async Task DisposeAsync() => await _receiver.DisposeAsync();

    private static WebhookSender Sender(bool allowPrivateNetworks, TimeSpan? timeout = null) => new(Options.Create(new WebhookOptions
    {
        AllowPrivateNetworks = allowPrivateNetworks,
        AttemptTimeout = timeout ?? TimeSpan.FromSeconds(10),
    }));

    [Fact]
    public async Task Without_the_development_setting_the_connection_to_a_loopback_receiver_is_refused_at_connect_time()
    {
        // A name that resolves to loopback (what DNS rebinding of a registered public name would look like).
        var url = _receiver.NewUrl("rebound").Replace("127.0.0.1", "localhost", StringComparison.Ordinal);
        using var sender = Sender(allowPrivateNetworks: false);

        var result = await sender.SendAsync(url, "msg_test", DateTimeOffset.UtcNow, "v1,x", "{}", CancellationToken.None);

        result.Succeeded.ShouldBeFalse();
        result.StatusCode.ShouldBeNull();
        result.Error!.ShouldContain("public internet");
        _receiver.Received(url).ShouldBeEmpty();
    }

    [Fact]
    public async Task With_the_development_setting_the_same_receiver_gets_the_headers_and_answers_2xx()
    {
        var url = _receiver.NewUrl("allowed");
        using var sender = Sender(allowPrivateNetworks: true);

        var result = await sender.SendAsync(url, "msg_test", DateTimeOffset.FromUnixTimeSeconds(1_764_779_000), "v1,abc", """{"a":1}""", CancellationToken.None);

        result.Succeeded.ShouldBeTrue();
        result.StatusCode.ShouldBe(200);
        var got = _receiver.Received(url).Single();
        got.Headers["webhook-id"].ToString().ShouldBe("msg_test");
        got.Headers["webhook-timestamp"].ToString().ShouldBe("1764779000");
        got.Headers["webhook-signature"].ToString().ShouldBe("v1,abc");
        got.Body.ShouldBe("""{"a":1}""");
    }

    [Fact]
    public async Task A_receiver_that_never_answers_is_a_failed_attempt_after_the_timeout()
    {
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        var port = ((IPEndPoint)silent.LocalEndpoint).Port;
        using var sender = Sender(allowPrivateNetworks: true, timeout: TimeSpan.FromSeconds(1));

        var result = await sender.SendAsync($"http://127.0.0.1:{port}/", "msg_test", DateTimeOffset.UtcNow, "v1,x", "{}", CancellationToken.None);

        result.Succeeded.ShouldBeFalse();
        result.StatusCode.ShouldBeNull();
        result.Error!.ShouldContain("no answer within 1 s");
        result.Latency.ShouldBeGreaterThanOrEqualTo(TimeSpan.FromSeconds(0.9));
        result.Latency.ShouldBeLessThan(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task A_refused_connection_is_a_failed_attempt_named_as_such()
    {
        using var sender = Sender(allowPrivateNetworks: true);

        var result = await sender.SendAsync(WebhookReceiver.RefusingUrl(), "msg_test", DateTimeOffset.UtcNow, "v1,x", "{}", CancellationToken.None);

        result.Succeeded.ShouldBeFalse();
        result.Error.ShouldBe("connection refused");
    }
}
