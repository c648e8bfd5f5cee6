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

    private MeteringPipeline Pipeline(MeteringOptions? options = null)
    {
        var metering = Options.Create(options ?? new MeteringOptions());
        var db = fixture.System.Database;
        var limits = Options.Create(new RateLimitOptions());
        return new MeteringPipeline(new RateLimiter(_redis, limits, NullLogger<RateLimiter>.Instance), new IdempotencyStore(db, metering), new CreditHolds(db),
            limits, metering, NullLogger<MeteringPipeline>.Instance, _ledger);
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

    private static async Task<(int Status, string Body)> ExecuteAsync(IResult result)
    {
        var context = new DefaultHttpContext { RequestServices = new ServiceCollection().AddLogging().BuildServiceProvider() };
        context.Response.Body = new MemoryStream();
        await result.ExecuteAsync(context);
        return (context.Response.StatusCode, Encoding.UTF8.GetString(((MemoryStream)context.Response.Body).ToArray()));
    }
}
