using System.Net;
using System.Net.Sockets;
using System.Text;
using Aurous.Jobs.Webhooks;
using Aurous.Testing;
using Hangfire;
using Hangfire.Common;
using Hangfire.States;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Aurous.Jobs.Tests;

/// <summary>
/// Delivering a failed or stopped webhook delivery again: the delivery reopens once, for the team that owns it, and the
/// next attempt is the same attempt job the sender runs, which sends the event's original id and body.
/// </summary>
[Collection(JobsCollection.Name)]
public sealed class WebhookRedeliveryTests(JobsSystem fixture)
{
    private AurousTestApp System => fixture.System;
    private WebhookStore Store => new(System.Database);
    private WebhookDeliveryStore Deliveries => new(System.Database);

    [Fact]
    public async Task A_failed_delivery_is_sent_again_with_its_event_id_and_body_and_succeeds()
    {
        await using var receiver = await Receiver.StartAsync();
        var (teamId, _) = await System.CreateTeamAsync(credits: 0);
        var (deliveryId, eventId, body) = await FailedDeliveryAsync(teamId, receiver.Url);
        var queue = new RecordingJobClient();

        (await new WebhookRedelivery(System.Database, queue).RedeliverAsync(teamId, deliveryId, CancellationToken.None)).ShouldBe(RedeliverOutcome.Queued);

        var job = queue.Jobs.ShouldHaveSingleItem();
        job.Type.ShouldBe(typeof(WebhookDelivery));
        job.Method.Name.ShouldBe(nameof(WebhookDelivery.AttemptAsync));
        job.Args[0].ShouldBe(deliveryId);
        job.Args[1].ShouldBe(2, "the attempt after the one recorded");
        (await Deliveries.GetDeliveryAsync(deliveryId, CancellationToken.None))!.Status.ShouldBe(DeliveryStatus.Pending);

        await RunAsync(queue, deliveryId, (int)job.Args[1]!);

        var received = receiver.Requests.ShouldHaveSingleItem();
        received.Id.ShouldBe(eventId);
        received.Body.ShouldBe(body);
        var delivery = (await Deliveries.GetDeliveryAsync(deliveryId, CancellationToken.None))!;
        delivery.Status.ShouldBe(DeliveryStatus.Succeeded);
        delivery.Attempts.ShouldBe(2);
        var log = await Store.ListAttemptsAsync(delivery.Endpoint!.Id, 10, CancellationToken.None);
        log.Select(a => (a.Attempt, a.Succeeded)).ShouldBe([(2, true), (1, false)]);
    }

    [Fact]
    public async Task A_delivery_reopens_once_however_often_retry_is_pressed()
    {
        var (teamId, _) = await System.CreateTeamAsync(credits: 0);
        var (deliveryId, _, _) = await FailedDeliveryAsync(teamId, "http://127.0.0.1:9/never");
        var queue = new RecordingJobClient();
        var redelivery = new WebhookRedelivery(System.Database, queue);

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => redelivery.RedeliverAsync(teamId, deliveryId, CancellationToken.None)));

        outcomes.Count(o => o == RedeliverOutcome.Queued).ShouldBe(1);
        outcomes.Where(o => o != RedeliverOutcome.Queued).ShouldAllBe(o => o == RedeliverOutcome.NotEnded);
        queue.Jobs.Count.ShouldBe(1);
    }

    [Fact]
    public async Task Another_teams_delivery_a_pending_one_and_one_of_a_disabled_endpoint_are_not_reopened()
    {
        var (teamId, _) = await System.CreateTeamAsync(credits: 0);
        var (otherTeam, _) = await System.CreateTeamAsync(credits: 0);
        var (failed, _, _) = await FailedDeliveryAsync(teamId, "http://127.0.0.1:9/never");
        var queue = new RecordingJobClient();
        var redelivery = new WebhookRedelivery(System.Database, queue);

        (await redelivery.RedeliverAsync(otherTeam, failed, CancellationToken.None)).ShouldBe(RedeliverOutcome.NotFound);
        (await redelivery.RedeliverAsync(teamId, "whd_missing", CancellationToken.None)).ShouldBe(RedeliverOutcome.NotFound);

        var endpoint = (await Deliveries.GetDeliveryAsync(failed, CancellationToken.None))!.Endpoint!;
        var (_, pending) = await RecordEventAsync(teamId);
        (await redelivery.RedeliverAsync(teamId, pending.Single(), CancellationToken.None)).ShouldBe(RedeliverOutcome.NotEnded);

        await using (var disable = System.Database.CreateCommand("UPDATE webhook_endpoints SET status = 'disabled', disabled_reason = 'test' WHERE id = @id"))
        {
            disable.Parameters.AddWithValue("id", endpoint.Id);
            await disable.ExecuteNonQueryAsync();
        }
        (await redelivery.RedeliverAsync(teamId, failed, CancellationToken.None)).ShouldBe(RedeliverOutcome.EndpointDisabled);

        (await Store.EnableAsync(teamId, endpoint.Id, CancellationToken.None)).ShouldNotBeNull();
        await Store.DeleteEndpointAsync(teamId, endpoint.Id, DateTimeOffset.UtcNow, CancellationToken.None);
        (await redelivery.RedeliverAsync(teamId, failed, CancellationToken.None)).ShouldBe(RedeliverOutcome.NotFound);

        queue.Jobs.ShouldBeEmpty();
        (await Deliveries.GetDeliveryAsync(failed, CancellationToken.None))!.Status.ShouldBe(DeliveryStatus.Failed);
    }

    /// <summary>An endpoint at <paramref name="url"/> and one delivery to it whose only attempt failed with the retry window spent.</summary>
    private async Task<(string DeliveryId, string EventId, string Body)> FailedDeliveryAsync(string teamId, string url)
    {
        var now = DateTimeOffset.UtcNow;
        (await Store.CreateEndpointAsync(teamId, url, "redelivery test", ["image.succeeded"], WebhookSigner.NewSecret(), 16, now, CancellationToken.None))
            .ShouldNotBeNull();
        var (body, deliveries) = await RecordEventAsync(teamId);
        var delivery = (await Deliveries.GetDeliveryAsync(deliveries.Single(), CancellationToken.None))!;
        var (recorded, _) = await Deliveries.RecordAttemptAsync(delivery, 1, now, new AttemptResult(500, TimeSpan.FromMilliseconds(3), "HTTP 500"),
            nextRetryAt: null, now, disableAfterFailures: 100, disableAfterFailingFor: TimeSpan.FromDays(2), CancellationToken.None);
        recorded.ShouldBeTrue();
        (await Deliveries.GetDeliveryAsync(delivery.Id, CancellationToken.None))!.Status.ShouldBe(DeliveryStatus.Failed);
        return (delivery.Id, delivery.EventId, body);
    }

    private async Task<(string Body, IReadOnlyList<string> Deliveries)> RecordEventAsync(string teamId)
    {
        var subject = "img_" + Guid.NewGuid().ToString("N");
        var body = """{"type":"image.succeeded","timestamp":"2026-12-03T00:00:00.000Z","data":{"id":"SUBJECT"}}""".Replace("SUBJECT", subject, StringComparison.Ordinal);
        var (_, deliveries) = await Deliveries.RecordEventAsync(teamId, "image.succeeded", subject, body, null, null, null, DateTimeOffset.UtcNow, CancellationToken.None);
        return (body, deliveries);
    }

    /// <summary>Runs the queued attempt in this process, as the worker's Hangfire server would.</summary>
    private async Task RunAsync(IBackgroundJobClient queue, string deliveryId, int attempt)
    {
        var options = Options.Create(new WebhookOptions { AllowPrivateNetworks = true, AttemptTimeout = TimeSpan.FromSeconds(10) });
        using var sender = new WebhookSender(options);
        var delivery = new WebhookDelivery(Deliveries, sender, queue, options, TimeProvider.System, NullLogger<WebhookDelivery>.Instance);
        await delivery.AttemptAsync(deliveryId, attempt, CancellationToken.None);
    }

    /// <summary>Keeps the jobs handed to the queue instead of storing them.</summary>
    private sealed class RecordingJobClient : IBackgroundJobClient
    {
        private readonly List<Job> _jobs = [];

        public IReadOnlyList<Job> Jobs
        {
            get
            {
                lock (_jobs)
                {
                    return [.. _jobs];
                }
            }
        }

        public string Create(Job job, IState state)
        {
            lock (_jobs)
            {
                _jobs.Add(job);
                return _jobs.Count.ToString(global::System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        public bool ChangeState(string jobId, IState state, string expectedState) => true;
    }

    /// <summary>A loopback webhook receiver that answers 204 and keeps each request's webhook-id and body.</summary>
    private sealed class Receiver : IAsyncDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly Task _loop;

        private Receiver(int port)
        {
            Url = $"http://127.0.0.1:{port}/hooks";
            _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            _listener.Start();
            _loop = Task.Run(LoopAsync);
        }

        public string Url { get; }
        public List<(string? Id, string Body)> Requests { get; } = [];

        public static Task<Receiver> StartAsync()
        {
            using var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            var port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            return Task.FromResult(new Receiver(port));
        }

        private async Task LoopAsync()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await _listener.GetContextAsync();
                }
                catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException)
                {
                    return;
                }
                using var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8);
                var body = await reader.ReadToEndAsync();
                lock (Requests)
                {
                    Requests.Add((context.Request.Headers[WebhookSender.IdHeader], body));
                }
                context.Response.StatusCode = 204;
                context.Response.Close();
            }
        }

        public async ValueTask DisposeAsync()
        {
            _listener.Stop();
            _listener.Close();
            await _loop;
        }
    }
}
