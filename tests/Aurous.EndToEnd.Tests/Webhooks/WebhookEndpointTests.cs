using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using StandardWebhooks;
using StandardWebhooks.Diagnostics;

namespace Aurous.EndToEnd.Tests.Webhooks;

/// <summary>
/// Webhooks through the running system: endpoints managed over the API, events delivered by the worker's Hangfire
/// server to a real receiver, signatures checked with the StandardWebhooks package's own verifier.
/// </summary>
[Collection(WebhookSystemCollection.Name)]
public sealed class WebhookEndpointTests(WebhookSystemFixture fixture)
{
    private WebhookReceiver Receiver => fixture.Receiver;

    private async Task<HttpClient> TeamClientAsync(string instance = WebhookSystemFixture.PermissiveApi)
    {
        var (_, key) = await fixture.System.CreateTeamAsync();
        return fixture.System.CreateApiClient(key, instance);
    }

    private static async Task<JsonElement> CreateAsync(HttpClient api, string url, params string[] events)
    {
        using var response = await api.PostAsJsonAsync("/v1/webhook_endpoints", new { url, events = events.Length > 0 ? events : ["image.succeeded"], description = "test receiver" });
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        response.StatusCode.ShouldBe(HttpStatusCode.Created, body.ToString());
        return body;
    }

    private static async Task<string> SendTestAsync(HttpClient api, string endpointId, string? traceParent = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/webhook_endpoints/{endpointId}/test");
        // The caller's trace is also this process's current activity: while another test traces HttpClient calls in
        // this process, the outgoing call becomes a child span of it (same trace) instead of starting a trace of its own.
        using var caller = traceParent is null ? null : new System.Diagnostics.Activity("webhook test caller").SetParentId(traceParent).Start();
        if (traceParent is not null)
        {
            request.Headers.Add("traceparent", traceParent);
        }
        using var response = await api.SendAsync(request);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        response.StatusCode.ShouldBe(HttpStatusCode.Accepted, body.ToString());
        return body.GetProperty("id").GetString()!;
    }

    private static async Task<JsonElement[]> DeliveryLogAsync(HttpClient api, string endpointId)
    {
        var log = await api.GetFromJsonAsync<JsonElement>($"/v1/webhook_endpoints/{endpointId}/deliveries?limit=100");
        return [.. log.GetProperty("data").EnumerateArray()];
    }

    private static void Verifies(ReceivedWebhook delivery, string secret) => new StandardWebhook(secret).Verify(delivery.Body, delivery.Headers);

    /// <summary>
    /// Some entry of webhook-signature verifies with <paramref name="secret"/>. The package's verifier reads only the
    /// first entry of a multi-signature header (StandardWebhooks 1.1.2), so each entry is handed to it on its own.
    /// </summary>
    private static void VerifiesSomeEntry(ReceivedWebhook delivery, string secret)
    {
        WebhookVerificationException? last = null;
        foreach (var entry in delivery.Headers["webhook-signature"].ToString().Split(' '))
        {
            var headers = new Microsoft.AspNetCore.Http.HeaderDictionary
            {
                ["webhook-id"] = delivery.Headers["webhook-id"],
                ["webhook-timestamp"] = delivery.Headers["webhook-timestamp"],
                ["webhook-signature"] = entry,
            };
            try
            {
                new StandardWebhook(secret).Verify(delivery.Body, headers);
                return;
            }
            catch (WebhookVerificationException ex)
            {
                last = ex;
            }
        }
        throw last!;
    }

    [Fact]
    public async Task Creating_an_endpoint_returns_its_secret_once_and_list_and_get_hide_it()
    {
        using var api = await TeamClientAsync();
        var created = await CreateAsync(api, Receiver.NewUrl("create"), "image.succeeded", "video.failed");

        var id = created.GetProperty("id").GetString()!;
        id.ShouldStartWith("we_");
        created.GetProperty("object").GetString().ShouldBe("webhook_endpoint");
        created.GetProperty("status").GetString().ShouldBe("enabled");
        created.GetProperty("secret").GetString()!.ShouldStartWith("whsec_");
        created.GetProperty("events").EnumerateArray().Select(e => e.GetString()).ShouldBe(["image.succeeded", "video.failed"]);

        var list = await api.GetFromJsonAsync<JsonElement>("/v1/webhook_endpoints");
        var row = list.GetProperty("data").EnumerateArray().Single();
        row.GetProperty("id").GetString().ShouldBe(id);
        row.TryGetProperty("secret", out _).ShouldBeFalse();
        var one = await api.GetFromJsonAsync<JsonElement>($"/v1/webhook_endpoints/{id}");
        one.TryGetProperty("secret", out _).ShouldBeFalse();
        one.GetProperty("url").GetString().ShouldBe(created.GetProperty("url").GetString());

        // Another team sees nothing of it.
        using var other = await TeamClientAsync();
        using var foreign = await other.GetAsync($"/v1/webhook_endpoints/{id}");
        foreign.StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await foreign.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetProperty("code").GetString().ShouldBe("webhook_endpoint_not_found");
    }

    [Theory]
    [InlineData("http://127.0.0.1:8080/hook", "webhook_url_forbidden")]
    [InlineData("http://localhost/hook", "webhook_url_forbidden")]
    [InlineData("http://[::1]/hook", "webhook_url_forbidden")]
    [InlineData("https://10.1.2.3/hook", "webhook_url_forbidden")]
    [InlineData("https://192.168.0.10/hook", "webhook_url_forbidden")]
    [InlineData("http://169.254.169.254/latest/meta-data", "webhook_url_forbidden")]
    [InlineData("http://[fd00:ec2::254]/", "webhook_url_forbidden")]
    [InlineData("ftp://example.com/hook", "invalid_webhook_url")]
    [InlineData("file:///etc/passwd", "invalid_webhook_url")]
    [InlineData("https://user:pass@example.com/hook", "invalid_webhook_url")]
    [InlineData("not a url", "invalid_webhook_url")]
    public async Task Without_the_development_setting_non_public_and_non_http_urls_are_refused(string url, string code)
    {
        using var api = await TeamClientAsync(WebhookSystemFixture.StrictApi);
        using var response = await api.PostAsJsonAsync("/v1/webhook_endpoints", new { url, events = new[] { "image.succeeded" } });
        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        var error = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error");
        error.GetProperty("code").GetString().ShouldBe(code);
        error.GetProperty("type").GetString().ShouldBe("invalid_request");
        (await api.GetFromJsonAsync<JsonElement>("/v1/webhook_endpoints")).GetProperty("data").GetArrayLength().ShouldBe(0);
    }

    [Theory]
    [InlineData("""{"url":"https://example.com/h","events":["image.done"]}""", "invalid_webhook_event")]
    [InlineData("""{"url":"https://example.com/h","events":[]}""", "missing_required_parameter")]
    [InlineData("""{"url":"https://example.com/h","events":"image.succeeded"}""", "invalid_type")]
    [InlineData("""{"url":"https://example.com/h"}""", "missing_required_parameter")]
    [InlineData("""{"events":["image.succeeded"]}""", "missing_required_parameter")]
    [InlineData("""{"url":"https://example.com/h","events":["image.succeeded"],"secret":"x"}""", "unknown_parameter")]
    [InlineData("""[1]""", "invalid_type")]
    public async Task Bad_bodies_are_refused_in_the_error_envelope(string body, string code)
    {
        using var api = await TeamClientAsync(WebhookSystemFixture.StrictApi);
        using var response = await api.PostAsync("/v1/webhook_endpoints", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetProperty("code").GetString().ShouldBe(code);
    }

    [Fact]
    public async Task A_test_event_is_delivered_signed_and_continues_the_publishers_trace()
    {
        using var api = await TeamClientAsync();
        var url = Receiver.NewUrl("test-event");
        var created = await CreateAsync(api, url);
        var id = created.GetProperty("id").GetString()!;
        var traceId = System.Diagnostics.ActivityTraceId.CreateRandom().ToHexString();

        var eventId = await SendTestAsync(api, id, $"00-{traceId}-{System.Diagnostics.ActivitySpanId.CreateRandom().ToHexString()}-01");

        var delivery = await Receiver.WaitForSuccessAsync(url);
        eventId.ShouldStartWith("msg_");
        delivery.Id.ShouldBe(eventId);
        Verifies(delivery, created.GetProperty("secret").GetString()!);
        delivery.Headers["webhook-signature"].ToString().ShouldStartWith("v1,");
        delivery.Headers["content-type"].ToString().ShouldStartWith("application/json");
        var body = JsonDocument.Parse(delivery.Body).RootElement;
        body.GetProperty("type").GetString().ShouldBe("webhook.test");
        body.GetProperty("data").GetProperty("endpoint_id").GetString().ShouldBe(id);
        // The delivery's HTTP call carries the trace the API request started.
        delivery.Headers["traceparent"].ToString().Split('-')[1].ShouldBe(traceId);

        // A wrong secret does not verify.
        Should.Throw<WebhookVerificationException>(() => Verifies(delivery, "whsec_" + Convert.ToBase64String(new byte[32])));

        var log = await WaitForLogAsync(api, id, rows => rows.Any(r => r.GetProperty("succeeded").GetBoolean()));
        var line = log.Single();
        line.GetProperty("event_id").GetString().ShouldBe(eventId);
        line.GetProperty("event_type").GetString().ShouldBe("webhook.test");
        line.GetProperty("attempt").GetInt32().ShouldBe(1);
        line.GetProperty("status_code").GetInt32().ShouldBe(200);
        line.GetProperty("latency_ms").GetDouble().ShouldBeGreaterThan(0);
        line.GetProperty("delivered_at").ValueKind.ShouldBe(JsonValueKind.Number);
        line.GetProperty("delivery_status").GetString().ShouldBe("succeeded");
    }

    [Fact]
    public async Task A_receiver_that_is_down_for_a_while_gets_the_event_with_the_same_id_and_the_log_shows_the_failures()
    {
        using var api = await TeamClientAsync();
        var url = Receiver.NewUrl("flaky");
        var created = await CreateAsync(api, url);
        var id = created.GetProperty("id").GetString()!;
        Receiver.Fail(url, times: 2);

        var eventId = await SendTestAsync(api, id);
        var delivered = await Receiver.WaitForSuccessAsync(url, timeout: TimeSpan.FromMinutes(3));

        var all = Receiver.Received(url);
        all.Select(r => r.Answered).ShouldBe([503, 503, 200]);
        all.ShouldAllBe(r => r.Id == eventId);
        all.Select(r => r.Body).Distinct().Count().ShouldBe(1);
        Verifies(delivered, created.GetProperty("secret").GetString()!);

        var log = await WaitForLogAsync(api, id, rows => rows.Length == 3 && rows.Any(r => r.GetProperty("succeeded").GetBoolean()));
        var byAttempt = log.OrderBy(r => r.GetProperty("attempt").GetInt32()).ToArray();
        byAttempt.Select(r => r.GetProperty("attempt").GetInt32()).ShouldBe([1, 2, 3]);
        byAttempt[0].GetProperty("status_code").GetInt32().ShouldBe(503);
        byAttempt[0].GetProperty("error").GetString()!.ShouldContain("503");
        byAttempt[0].GetProperty("next_retry_at").ValueKind.ShouldBe(JsonValueKind.Number);
        byAttempt[1].GetProperty("succeeded").GetBoolean().ShouldBeFalse();
        byAttempt[2].GetProperty("status_code").GetInt32().ShouldBe(200);
        byAttempt[2].GetProperty("next_retry_at").ValueKind.ShouldBe(JsonValueKind.Null);
        (await api.GetFromJsonAsync<JsonElement>($"/v1/webhook_endpoints/{id}")).GetProperty("status").GetString().ShouldBe("enabled");
    }

    [Fact]
    public async Task After_a_rotation_both_secrets_verify_during_the_grace_and_only_the_new_one_after_24_hours()
    {
        using var api = await TeamClientAsync();
        var url = Receiver.NewUrl("rotate");
        var created = await CreateAsync(api, url);
        var id = created.GetProperty("id").GetString()!;
        var oldSecret = created.GetProperty("secret").GetString()!;

        using var rotation = await api.PostAsync($"/v1/webhook_endpoints/{id}/rotate_secret", null);
        rotation.StatusCode.ShouldBe(HttpStatusCode.OK);
        var rotated = await rotation.Content.ReadFromJsonAsync<JsonElement>();
        var newSecret = rotated.GetProperty("secret").GetString()!;
        newSecret.ShouldStartWith("whsec_");
        newSecret.ShouldNotBe(oldSecret);
        rotated.GetProperty("previous_secret_expires_at").ValueKind.ShouldBe(JsonValueKind.Number);

        var during = await SendTestAsync(api, id);
        var first = await Receiver.WaitForSuccessAsync(url, r => r.Id == during);
        first.Headers["webhook-signature"].ToString().Split(' ').Length.ShouldBe(2);
        VerifiesSomeEntry(first, oldSecret);
        VerifiesSomeEntry(first, newSecret);
        // The new secret's signature comes first, so a verifier that reads one entry accepts the new secret.
        Verifies(first, newSecret);

        await fixture.System.AdvanceClockAsync(TimeSpan.FromHours(24) + TimeSpan.FromMinutes(1), WebhookSystemFixture.PermissiveApi, "inference-worker");

        var after = await SendTestAsync(api, id);
        var second = await Receiver.WaitForSuccessAsync(url, r => r.Id == after);
        second.Headers["webhook-signature"].ToString().Split(' ').Length.ShouldBe(1);
        Verifies(second, newSecret);
        Should.Throw<WebhookVerificationException>(() => Verifies(second, oldSecret));
        Should.Throw<WebhookVerificationException>(() => VerifiesSomeEntry(second, oldSecret));
        (await api.GetFromJsonAsync<JsonElement>($"/v1/webhook_endpoints/{id}")).GetProperty("previous_secret_expires_at").ValueKind.ShouldBe(JsonValueKind.Null);
    }

    [Fact]
    public async Task An_endpoint_that_keeps_failing_is_disabled_with_its_reason_and_can_be_enabled_again()
    {
        using var api = await TeamClientAsync();
        var url = WebhookReceiver.RefusingUrl();
        var created = await CreateAsync(api, url);
        var id = created.GetProperty("id").GetString()!;

        await SendTestAsync(api, id);

        var disabled = await WaitForAsync(async () =>
        {
            var endpoint = await api.GetFromJsonAsync<JsonElement>($"/v1/webhook_endpoints/{id}");
            return (endpoint.GetProperty("status").GetString() == "disabled", endpoint);
        }, TimeSpan.FromMinutes(3));
        disabled.GetProperty("disabled_reason").GetString()!.ShouldContain("connection refused");
        disabled.GetProperty("disabled_at").ValueKind.ShouldBe(JsonValueKind.Number);

        var log = await DeliveryLogAsync(api, id);
        log.Length.ShouldBe(WebhookSystemFixture.DisableAfterFailures);
        log.ShouldAllBe(r => r.GetProperty("status_code").ValueKind == JsonValueKind.Null && !r.GetProperty("succeeded").GetBoolean());
        log.ShouldAllBe(r => r.GetProperty("delivery_status").GetString() == "cancelled");

        // A disabled endpoint takes no test events until it is enabled again.
        using var refused = await api.PostAsync($"/v1/webhook_endpoints/{id}/test", null);
        refused.StatusCode.ShouldBe(HttpStatusCode.Conflict);
        using var enable = await api.PostAsync($"/v1/webhook_endpoints/{id}/enable", null);
        enable.StatusCode.ShouldBe(HttpStatusCode.OK);
        var enabled = await enable.Content.ReadFromJsonAsync<JsonElement>();
        enabled.GetProperty("status").GetString().ShouldBe("enabled");
        enabled.GetProperty("disabled_reason").ValueKind.ShouldBe(JsonValueKind.Null);
    }

    [Fact]
    public async Task Deleting_an_endpoint_stops_its_pending_deliveries()
    {
        using var api = await TeamClientAsync();
        var url = Receiver.NewUrl("deleted");
        var created = await CreateAsync(api, url);
        var id = created.GetProperty("id").GetString()!;
        Receiver.Fail(url, int.MaxValue);

        await SendTestAsync(api, id);
        var first = await WaitForLogAsync(api, id, rows => rows.Length >= 1);
        using var delete = await api.DeleteAsync($"/v1/webhook_endpoints/{id}");
        delete.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await delete.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("deleted").GetBoolean().ShouldBeTrue();
        var seenAtDelete = Receiver.Received(url).Count;

        // Well past the scheduled retry (at most 2 s away) and Hangfire's schedule polling: nothing more arrives.
        await Task.Delay(TimeSpan.FromSeconds(25));
        Receiver.Received(url).Count.ShouldBe(seenAtDelete);
        seenAtDelete.ShouldBeLessThan(WebhookSystemFixture.DisableAfterFailures);
        (await api.GetAsync($"/v1/webhook_endpoints/{id}")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await api.GetFromJsonAsync<JsonElement>("/v1/webhook_endpoints")).GetProperty("data").GetArrayLength().ShouldBe(0);
        await using var status = fixture.System.Database.CreateCommand(
            "SELECT d.status || ':' || d.ended_reason FROM webhook_deliveries d WHERE d.endpoint_id = @id");
        status.Parameters.AddWithValue("id", id);
        (await status.ExecuteScalarAsync()).ShouldBe("cancelled:endpoint_deleted");
        first.ShouldNotBeEmpty();
    }

    [Fact]
    public async Task A_job_event_published_twice_is_delivered_once_to_subscribed_endpoints_only()
    {
        var (teamId, key) = await fixture.System.CreateTeamAsync();
        using var api = fixture.System.CreateApiClient(key);
        var subscribed = Receiver.NewUrl("job-event");
        var other = Receiver.NewUrl("other-event");
        var created = await CreateAsync(api, subscribed, "image.succeeded", "image.failed");
        await CreateAsync(api, other, "video.succeeded");

        // What the runner does when a job ends: publish through IWebhookEvents with the job object as GET returns it.
        // Hangfire keeps its log provider in a static: another host of this test process (now disposed) may have set
        // it to its own logger factory, so this client logs nowhere instead.
        Hangfire.Logging.LogProvider.SetCurrentLogProvider(null);
        var hangfireOptions = new Hangfire.PostgreSql.PostgreSqlStorageOptions { SchemaName = Aurous.Jobs.JobHosting.SchemaName, PrepareSchemaIfNecessary = false };
        var storage = new Hangfire.PostgreSql.PostgreSqlStorage(
            new Hangfire.PostgreSql.Factories.NpgsqlConnectionFactory(fixture.System.ConnectionString("postgres"), hangfireOptions), hangfireOptions);
        var events = new Aurous.Jobs.Webhooks.WebhookEvents(
            new Aurous.Jobs.Webhooks.WebhookDeliveryStore(fixture.System.Database), new Hangfire.BackgroundJobClient(storage), TimeProvider.System);
        var jobId = "img_" + Aurous.Persistence.Ulid.NewUlid();
        var job = System.Text.Encoding.UTF8.GetBytes($$"""{"id":"{{jobId}}","object":"image","status":"succeeded","output_urls":["https://example.com/o"]}""");
        await events.PublishAsync(teamId, "image.succeeded", jobId, job, CancellationToken.None);
        await events.PublishAsync(teamId, "image.succeeded", jobId, job, CancellationToken.None);

        var delivery = await Receiver.WaitForSuccessAsync(subscribed);
        VerifiesSomeEntry(delivery, created.GetProperty("secret").GetString()!);
        var body = JsonDocument.Parse(delivery.Body).RootElement;
        body.GetProperty("type").GetString().ShouldBe("image.succeeded");
        body.GetProperty("data").GetProperty("id").GetString().ShouldBe(jobId);
        body.GetProperty("data").GetProperty("output_urls")[0].GetString().ShouldBe("https://example.com/o");

        // Give a second delivery time to show up if there were one (a first attempt is enqueued at once).
        await Task.Delay(TimeSpan.FromSeconds(5));
        Receiver.Received(subscribed).Count.ShouldBe(1);
        Receiver.Received(other).ShouldBeEmpty();
        await Should.ThrowAsync<ArgumentException>(() => events.PublishAsync(teamId, "image.done", jobId, job, CancellationToken.None));
    }

    [Fact]
    public async Task The_openapi_document_lists_the_webhook_routes()
    {
        using var http = fixture.System.CreateApiClient();
        var doc = await http.GetFromJsonAsync<JsonElement>("/openapi/v1.json");
        var paths = doc.GetProperty("paths");
        foreach (var path in new[] { "/v1/webhook_endpoints", "/v1/webhook_endpoints/{id}", "/v1/webhook_endpoints/{id}/test",
                     "/v1/webhook_endpoints/{id}/rotate_secret", "/v1/webhook_endpoints/{id}/deliveries", "/v1/webhook_endpoints/{id}/enable" })
        {
            paths.TryGetProperty(path, out _).ShouldBeTrue(path);
        }
    }

    private static async Task<JsonElement[]> WaitForLogAsync(HttpClient api, string endpointId, Func<JsonElement[], bool> done) =>
        await WaitForAsync(async () => await DeliveryLogAsync(api, endpointId) is var rows ? (done(rows), rows) : default, TimeSpan.FromMinutes(2));

    /// <summary>Probes every 250 ms until it reports done, and returns what it saw then.</summary>
    private static async Task<T> WaitForAsync<T>(Func<Task<(bool Done, T Value)>> probe, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var (done, value) = await probe();
            if (done)
            {
                return value;
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("The condition was not met in time.");
            }
            await Task.Delay(250);
        }
    }
}
