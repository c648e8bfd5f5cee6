using System.Text;
using System.Text.Json;
using Aurous.Accounts;
using Aurous.Api.Metering;
using Aurous.Api.Pipeline;
using Aurous.Models;
using Aurous.Persistence;
using Aurous.Testing;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Aurous.Api.Tests;

/// <summary>
/// The metering pipeline driven directly (no HTTP) against the test system's real Postgres and Redis, so that the
/// order of events around a capture (a second capture, a capture after a release, a lost hold, a long request with a
/// sweeper running every few hundred milliseconds) is exact rather than a race.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class MeteredRequestTests(ApiFixture fixture) : IAsyncLifetime
{
    private const string Model = "aurous-grow-2.0-pro";
    private static readonly TokenUsage Usage = new(TextInput: 20, TextOutput: 10);
    private static readonly TokenUsage Estimate = new(TextInput: 20, TextOutput: 100);
    private ConnectionMultiplexer _redis = null!;
    private CatalogModel _model = null!;
    private CreditCommitQueue _ledger = null!;

    public async Task InitializeAsync()
    {
        _redis = await ConnectionMultiplexer.ConnectAsync(fixture.System.ConnectionString("redis"));
        _ledger = new CreditCommitQueue(fixture.System.Database, new CreditHolds(fixture.System.Database), Options.Create(new CreditCommitOptions()), NullLogger<CreditCommitQueue>.Instance);
        ModelCatalog.Load(fixture.System.Settings.ModelsDirectory).TryResolve(Model, out _model).ShouldBeTrue();
    }

    public async Task DisposeAsync()
    {
        await _ledger.DisposeAsync();
        await _redis.DisposeAsync();
    }

    private MeteringPipeline Pipeline(MeteringOptions? options = null, CreditLeases? leases = null)
    {
        var metering = Options.Create(options ?? new MeteringOptions());
        var db = fixture.System.Database;
        var limits = Options.Create(new RateLimitOptions());
        return new MeteringPipeline(new RateLimiter(_redis, limits, NullLogger<RateLimiter>.Instance), new IdempotencyStore(db, metering), new CreditHolds(db),
            limits, metering, NullLogger<MeteringPipeline>.Instance, _ledger,
            leases ?? new CreditLeases(new CreditLeaseStore(db), metering, NullLogger<CreditLeases>.Instance));
    }

    private static DefaultHttpContext Context(string teamId, string? idempotencyKey = null)
    {
        var context = new DefaultHttpContext();
        context.Features.Set(new RequestContext
        {
            RequestId = Ulid.NewId("req"),
            ApiKey = new ApiKeyRecord("key_component", teamId, ["chat"], ApiKeyState.Active, null, ApiVersions.Default),
        });
        if (idempotencyKey is not null)
        {
            context.Request.Headers[MeteringPipeline.IdempotencyKeyHeader] = idempotencyKey;
        }
        return context;
    }

    private async Task<MeteredRequest> AdmitAsync(MeteringPipeline pipeline, HttpContext context, JsonElement? body = null)
    {
        var (admitted, ended) = await pipeline.AdmitAsync(context, new AdmissionRequest(
            "chat.completions", _model, Estimate.TotalTokens, Pricing.Price(_model.Manifest, Estimate).Total, body));
        ended.ShouldBeNull();
        return admitted.ShouldNotBeNull();
    }

    private async Task<T> ScalarAsync<T>(string sql, params (string Name, object Value)[] parameters)
    {
        await using var cmd = fixture.System.Database.CreateCommand(sql);
        foreach (var (name, value) in parameters)
        {
            cmd.Parameters.AddWithValue(name, value);
        }
        return (T)(await cmd.ExecuteScalarAsync())!;
    }

    private Task<long> ChargesAsync(string requestId) =>
        ScalarAsync<long>("SELECT count(*) FROM ledger_entries WHERE request_id = @r AND kind = 'charge'", ("r", requestId));

    [Fact]
    public async Task Capturing_the_same_hold_twice_returns_the_first_receipt_and_charges_once()
    {
        var (teamId, _) = await fixture.System.CreateTeamAsync(credits: 1m);
        var holds = new CreditHolds(fixture.System.Database);
        var hold = (await holds.TryPlaceAsync(teamId, "req_twice", "chat.completions", Model, 0.5m)).ShouldNotBeNull();
        var capture = new Capture(hold, teamId, "req_twice", "key_x", "chat.completions", Model, 0.2m, "{}", "{}", "{}", null);

        var first = await holds.CaptureAsync(capture);
        var second = await holds.CaptureAsync(capture with { Amount = 0.3m });

        first.ShouldNotBeNull();
        second.ShouldBe(first);
        (await ChargesAsync("req_twice")).ShouldBe(1);
        (await new Accounts.Ledger(fixture.System.Database).GetBalanceAsync(teamId)).ShouldBe(new Accounts.Balance(0.8m, 0m));
        (await LedgerAudit.RunAsync(fixture.System.Database, teamId)).ShouldBeClean();

        // The database refuses a second charge for a request whatever the code does.
        var other = (await holds.TryPlaceAsync(teamId, "req_twice", "chat.completions", Model, 0.1m)).ShouldNotBeNull();
        await Should.ThrowAsync<Npgsql.PostgresException>(() => holds.CaptureAsync(capture with { HoldId = other, Amount = 0.1m }));
        (await holds.ReleaseAsync(other)).ShouldBeTrue();
        (await LedgerAudit.RunAsync(fixture.System.Database, teamId)).ShouldBeClean();
    }

    [Fact]
    public async Task A_stream_is_captured_once_and_never_charged_after_a_release()
    {
        var (teamId, _) = await fixture.System.CreateTeamAsync(credits: 1m);
        var pipeline = Pipeline();

        var context = Context(teamId);
        var captured = await AdmitAsync(pipeline, context);
        var first = await captured.CaptureStreamAsync(Usage);
        var again = await captured.CaptureStreamAsync(Usage with { TextOutput = 99 });
        await captured.DisposeAsync();
        first.Total.ShouldBe(Pricing.Price(_model.Manifest, Usage).Total);
        again.ShouldBe(first);
        (await ChargesAsync(RequestContext.Of(context).RequestId)).ShouldBe(1);

        // A worker failure releases the request; a client leaving afterwards must not turn it into a charge.
        var failedContext = Context(teamId);
        var failed = await AdmitAsync(pipeline, failedContext);
        await failed.DisposeAsync();
        failed.IsSettled.ShouldBeTrue();
        (await failed.CaptureStreamAsync(Usage)).ShouldBe(Charge.None);
        (await ChargesAsync(RequestContext.Of(failedContext).RequestId)).ShouldBe(0);

        var audit = (await LedgerAudit.RunAsync(fixture.System.Database, teamId)).ShouldBeClean();
        audit.Charges.ShouldBe(1);
        audit.Credits.ShouldBe(1m - first.Total);
    }

    [Fact]
    public async Task The_heartbeat_keeps_the_hold_and_the_key_of_a_request_that_outlives_them()
    {
        var (teamId, _) = await fixture.System.CreateTeamAsync(credits: 1m);
        // Eight beats per lifetime: a beat delayed on a busy machine must not pass for a heartbeat that stopped.
        var options = new MeteringOptions { HoldLifetime = TimeSpan.FromSeconds(2), IdempotencyLease = TimeSpan.FromSeconds(2), HeartbeatInterval = TimeSpan.FromMilliseconds(250) };
        var pipeline = Pipeline(options);
        var body = JsonDocument.Parse("""{"model":"aurous-grow-2.0-pro","messages":[{"role":"user","content":"hi"}]}""").RootElement;
        var context = Context(teamId, "long-work");
        var requestId = RequestContext.Of(context).RequestId;
        var idempotency = new IdempotencyStore(fixture.System.Database, Options.Create(options));
        var fingerprint = IdempotencyStore.Fingerprint("chat.completions", body);

        await using var metered = await AdmitAsync(pipeline, context, body);
        // Four lifetimes of work, with a sweeper far more eager than the real one and retries knocking all along.
        var until = DateTime.UtcNow.AddSeconds(8);
        while (DateTime.UtcNow < until)
        {
            await Task.Delay(200);
            // The sweeper's rule (not renewed within the lifetime), limited to this request: the system is shared.
            await ScalarAsync<int>("""
                WITH h AS (UPDATE credit_holds SET state = 'expired', settled_at = now()
                           WHERE request_id = @r AND state = 'held' AND COALESCE(renewed_at, created_at) < now() - interval '2 seconds'
                           RETURNING team_id, amount),
                b AS (UPDATE team_balances b SET held = b.held - h.amount FROM h WHERE b.team_id = h.team_id RETURNING 1)
                SELECT count(*)::int FROM b
                """, ("r", requestId));
            (await idempotency.ClaimAsync(teamId, "long-work", fingerprint, Ulid.NewId("req"), CancellationToken.None)).Outcome
                .ShouldBe(IdempotencyStore.Outcome.InProgress);
        }
        (await ScalarAsync<string>("SELECT state FROM credit_holds WHERE request_id = @r", ("r", requestId))).ShouldBe("held");

        var result = await metered.CompleteAsync(Usage, charge => Encoding.UTF8.GetBytes(charge.Total.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        var response = await ExecuteAsync(result);
        response.Status.ShouldBe(200);
        decimal.Parse(response.Body, System.Globalization.CultureInfo.InvariantCulture).ShouldBe(Pricing.Price(_model.Manifest, Usage).Total);
        (await ChargesAsync(requestId)).ShouldBe(1);
        (await ScalarAsync<string>("SELECT state FROM credit_holds WHERE request_id = @r", ("r", requestId))).ShouldBe("captured");
        var replay = await idempotency.ClaimAsync(teamId, "long-work", fingerprint, Ulid.NewId("req"), CancellationToken.None);
        replay.Outcome.ShouldBe(IdempotencyStore.Outcome.Replay);
        Encoding.UTF8.GetString(replay.Body!).ShouldBe(response.Body);
        (await LedgerAudit.RunAsync(fixture.System.Database, teamId)).ShouldBeClean();
    }

    [Fact]
    public async Task A_request_whose_hold_was_lost_says_it_charged_nothing()
    {
        var (teamId, _) = await fixture.System.CreateTeamAsync(credits: 1m);
        var pipeline = Pipeline();
        async Task ExpireAsync(string requestId) => await ScalarAsync<int>("""
            WITH h AS (UPDATE credit_holds SET state = 'expired', settled_at = now() WHERE request_id = @r AND state = 'held' RETURNING team_id, amount)
            , b AS (UPDATE team_balances b SET held = b.held - h.amount FROM h WHERE b.team_id = h.team_id RETURNING 1)
            SELECT count(*)::int FROM b
            """, ("r", requestId));

        var syncContext = Context(teamId);
        await using (var sync = await AdmitAsync(pipeline, syncContext))
        {
            await ExpireAsync(RequestContext.Of(syncContext).RequestId);
            var rendered = new List<Charge>();
            var response = await ExecuteAsync(await sync.CompleteAsync(Usage, charge =>
            {
                rendered.Add(charge);
                return Encoding.UTF8.GetBytes(charge.Total.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }));
            response.Status.ShouldBe(200);
            response.Body.ShouldBe("0", "the body must not claim a charge that did not happen");
            rendered[^1].ShouldBe(Charge.None);
        }

        var streamContext = Context(teamId);
        await using (var stream = await AdmitAsync(pipeline, streamContext))
        {
            await ExpireAsync(RequestContext.Of(streamContext).RequestId);
            (await stream.CaptureStreamAsync(Usage)).ShouldBe(Charge.None);
        }

        var audit = (await LedgerAudit.RunAsync(fixture.System.Database, teamId)).ShouldBeClean();
        audit.Charges.ShouldBe(0);
        audit.Credits.ShouldBe(1m);
    }

    private CreditLeases Leases(MeteringOptions options) =>
        new(new CreditLeaseStore(fixture.System.Database), Options.Create(options), NullLogger<CreditLeases>.Instance);

    private Task<long> LeasedChargesAsync(string teamId) =>
        ScalarAsync<long>("SELECT count(*) FROM ledger_entries WHERE team_id = @t AND kind = 'charge' AND lease_id IS NOT NULL", ("t", teamId));

    [Fact]
    public async Task A_busy_teams_holds_are_placed_against_a_lease_and_its_books_reconcile()
    {
        var hold = Pricing.Price(_model.Manifest, Estimate).Total;
        var credits = hold * 100_000;
        var (teamId, _) = await fixture.System.CreateTeamAsync(credits: credits);
        var options = new MeteringOptions { LeaseAfterRequestsPerSecond = 5 };
        var leases = Leases(options);
        await leases.StartAsync(CancellationToken.None);
        var pipeline = Pipeline(options, leases);
        var charged = new System.Collections.Concurrent.ConcurrentBag<decimal>();

        // Waves of 50 at once: half answered whole, half streamed, one in ten failing (released).
        for (var wave = 0; wave < 8; wave++)
        {
            await Task.WhenAll(Enumerable.Range(0, 50).Select(async i =>
            {
                await using var metered = await AdmitAsync(pipeline, Context(teamId));
                if (i % 10 == 9)
                {
                    return;
                }
                var usage = Usage with { TextOutput = 1 + i };
                if (i % 2 == 0)
                {
                    await metered.CompleteAsync(usage, _ => []);
                }
                else
                {
                    await metered.CaptureStreamAsync(usage);
                }
                charged.Add(Pricing.Price(_model.Manifest, usage).Total);
            }));
        }

        var leased = await LeasedChargesAsync(teamId);
        leased.ShouldBeGreaterThan(200, "most charges are spent from the lease once it is open");
        (await ScalarAsync<long>("SELECT count(*) FROM credit_holds WHERE team_id = @t AND NOT lease", ("t", teamId)))
            .ShouldBeLessThan(200, "only requests the lease could not cover (the first ones, a burst beyond its slice) take holds of their own");
        var open = (await LedgerAudit.RunAsync(fixture.System.Database, teamId, allowOpenHolds: true)).ShouldBeClean();
        open.Charges.ShouldBe(charged.Count);
        open.Credits.ShouldBe(credits - charged.Sum());
        open.Held.ShouldBeGreaterThan(0m, "the lease still holds its unspent slice");

        // Stopping closes the lease: everything it held goes back, and nothing is left open.
        await leases.StopAsync(CancellationToken.None);
        var closed = (await LedgerAudit.RunAsync(fixture.System.Database, teamId)).ShouldBeClean();
        closed.Held.ShouldBe(0m);
        closed.Credits.ShouldBe(credits - charged.Sum());
    }

    [Fact]
    public async Task A_team_running_low_gets_every_credit_it_has_whether_leased_or_held()
    {
        var hold = Pricing.Price(_model.Manifest, Estimate).Total;
        var (teamId, _) = await fixture.System.CreateTeamAsync(credits: hold * 200);
        var options = new MeteringOptions { LeaseAfterRequestsPerSecond = 1 };
        var leases = Leases(options);
        await leases.StartAsync(CancellationToken.None);
        var pipeline = Pipeline(options, leases);

        // Requests that stay in flight, one after another, until the team's credits are all reserved.
        var admitted = new List<MeteredRequest>();
        while (true)
        {
            var (metered, ended) = await pipeline.AdmitAsync(Context(teamId), new AdmissionRequest(
                "chat.completions", _model, Estimate.TotalTokens, hold, null));
            if (metered is null)
            {
                (await ExecuteAsync(ended.ShouldNotBeNull())).Status.ShouldBe(402);
                break;
            }
            admitted.Add(metered);
            admitted.Count.ShouldBeLessThanOrEqualTo(200);
        }
        admitted.Count.ShouldBe(200, "a lease's unreserved part is given back before a request is refused");
        (await ScalarAsync<long>("SELECT count(*) FROM credit_holds WHERE team_id = @t AND lease", ("t", teamId)))
            .ShouldBeGreaterThan(0, "the team was served from a lease while it had credits to spare");

        foreach (var metered in admitted)
        {
            await metered.DisposeAsync();
        }
        await leases.StopAsync(CancellationToken.None);
        var audit = (await LedgerAudit.RunAsync(fixture.System.Database, teamId)).ShouldBeClean();
        audit.Credits.ShouldBe(hold * 200);
        audit.Charges.ShouldBe(0);
    }

    [Fact]
    public async Task A_lease_takes_at_most_its_share_of_what_the_team_has_available()
    {
        var (teamId, _) = await fixture.System.CreateTeamAsync(credits: 80m);
        var store = new CreditLeaseStore(fixture.System.Database);

        // An eighth of 80 is 10: more is cut to it, and a minimum above it is refused.
        (await store.TryOpenAsync(CreditLeaseStore.NewId(), teamId, "lease:test", want: 50m, min: 11m, share: 0.125m)).ShouldBeNull();
        var lease = CreditLeaseStore.NewId();
        (await store.TryOpenAsync(lease, teamId, "lease:test", want: 50m, min: 10m, share: 0.125m)).ShouldBe(10m);
        // 70 available now: an eighth is 8.75.
        (await store.TryGrowAsync(teamId, lease, want: 20m, min: 9m, share: 0.125m)).ShouldBe(0m);
        (await store.TryGrowAsync(teamId, lease, want: 20m, min: 1m, share: 0.125m)).ShouldBe(8.75m);
        (await store.TryGrowAsync(teamId, lease, want: 1m, min: 1m, share: 0.125m)).ShouldBe(1m);
        (await new Accounts.Ledger(fixture.System.Database).GetBalanceAsync(teamId)).ShouldBe(new Accounts.Balance(80m, 19.75m));
        (await store.GiveBackAsync(teamId, lease, 25m)).ShouldBeFalse("more than the lease holds");
        (await store.GiveBackAsync(teamId, lease, 4.75m)).ShouldBeTrue();
        (await LedgerAudit.RunAsync(fixture.System.Database, teamId, allowOpenHolds: true)).ShouldBeClean().Held.ShouldBe(15m);
        (await store.CloseAsync(teamId, lease)).ShouldBeTrue();
        (await store.CloseAsync(teamId, lease)).ShouldBeFalse();
        (await store.TryGrowAsync(teamId, lease, want: 1m, min: 1m, share: 1m)).ShouldBe(0m, "a closed lease is not grown");
        (await LedgerAudit.RunAsync(fixture.System.Database, teamId)).ShouldBeClean().Held.ShouldBe(0m);

        // A share of 1 may take everything available, and never more.
        var all = CreditLeaseStore.NewId();
        (await store.TryOpenAsync(all, teamId, "lease:test", want: 1000m, min: 1m, share: 1m)).ShouldBe(80m);
        (await store.TryOpenAsync(CreditLeaseStore.NewId(), teamId, "lease:test", want: 1m, min: 0.000000000001m, share: 1m)).ShouldBeNull();
        (await store.CloseAsync(teamId, all)).ShouldBeTrue();
        (await LedgerAudit.RunAsync(fixture.System.Database, teamId)).ShouldBeClean().Held.ShouldBe(0m);
    }

    [Fact]
    public async Task A_lease_its_instance_stopped_renewing_expires_and_keeps_every_charge_made_from_it()
    {
        var hold = Pricing.Price(_model.Manifest, Estimate).Total;
        var credits = hold * 100_000;
        var (teamId, _) = await fixture.System.CreateTeamAsync(credits: credits);
        var options = new MeteringOptions { LeaseAfterRequestsPerSecond = 1 };
        // Never started nor stopped: an instance that dies without closing anything.
        var pipeline = Pipeline(options, Leases(options));
        var price = Pricing.Price(_model.Manifest, Usage).Total;
        for (var i = 0; i < 40; i++)
        {
            await using var metered = await AdmitAsync(pipeline, Context(teamId));
            await metered.CompleteAsync(Usage, _ => []);
        }
        var leased = await LeasedChargesAsync(teamId);
        leased.ShouldBeGreaterThan(30);
        var inFlight = await AdmitAsync(pipeline, Context(teamId));

        // The sweeper's rule for leases (not renewed within their lifetime), limited to this team: the system is shared.
        (await ScalarAsync<int>("""
            WITH h AS (UPDATE credit_holds SET state = 'expired', settled_at = now()
                       WHERE team_id = @t AND state = 'held' AND lease RETURNING team_id, amount),
            b AS (UPDATE team_balances b SET held = b.held - h.amount FROM h WHERE b.team_id = h.team_id RETURNING 1)
            SELECT count(*)::int FROM b
            """, ("t", teamId))).ShouldBe(1);
        var expired = (await LedgerAudit.RunAsync(fixture.System.Database, teamId)).ShouldBeClean();
        expired.Charges.ShouldBe(40);
        expired.Credits.ShouldBe(credits - 40 * price);

        // The request in flight when its lease expired is served, says it charged nothing, and the lease is not used again.
        (await inFlight.CaptureStreamAsync(Usage)).ShouldBe(Charge.None);
        await inFlight.DisposeAsync();
        await using (var next = await AdmitAsync(pipeline, Context(teamId)))
        {
            (await next.CaptureStreamAsync(Usage)).Total.ShouldBe(price);
        }
        var after = (await LedgerAudit.RunAsync(fixture.System.Database, teamId, allowOpenHolds: true)).ShouldBeClean();
        after.Charges.ShouldBe(41);
        after.Credits.ShouldBe(credits - 41 * price);
    }

    private static async Task<(int Status, string Body)> ExecuteAsync(IResult result)
    {
        var context = new DefaultHttpContext { RequestServices = new ServiceCollection().AddLogging().BuildServiceProvider() };
        context.Response.Body = new MemoryStream();
        await result.ExecuteAsync(context);
        return (context.Response.StatusCode, Encoding.UTF8.GetString(((MemoryStream)context.Response.Body).ToArray()));
    }
}
