using System.Text.Json;
using Aurous.Accounts;
using Aurous.Api.Metering;
using Aurous.Jobs;
using Aurous.Testing;
using Azure.Storage.Blobs;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Aurous.Api.Tests.Jobs;

/// <summary>The job rows against the real database: every transition, its hold, and the charge it books.</summary>
[Collection(ApiCollection.Name)]
public sealed class JobStoreTests(ApiFixture fixture)
{
    private const string Model = "aurous-canvas-1.0";
    private static readonly Uri PublicBase = new("http://api.example.test:8080");

    private readonly FakeTimeProvider _clock = new(DateTimeOffset.UtcNow);

    private JobStore Store => new(fixture.System.Database, new CreditHolds(fixture.System.Database), _clock);

    [Fact]
    public async Task A_created_job_is_pending_with_its_hold_attached_and_the_stale_hold_sweep_leaves_it_alone()
    {
        var (teamId, _) = await fixture.System.CreateTeamAsync(credits: 1m);
        var job = await NewJobAsync(teamId, 0.04096m);

        var created = await Store.CreateAsync(job, null, default);

        created.Status.ShouldBe(JobStatus.Pending);
        var stored = (await Store.GetAsync(teamId, job.Id, default)).ShouldNotBeNull();
        stored.Spec.ShouldBe(job.Spec);
        (stored.Id, stored.TeamId, stored.RequestId, stored.Kind, stored.Model, stored.Status, stored.HoldId, stored.Estimate, stored.TraceParent)
            .ShouldBe((created.Id, created.TeamId, created.RequestId, created.Kind, created.Model, created.Status, created.HoldId, created.Estimate, created.TraceParent));
        (stored.CreatedAt - created.CreatedAt).Duration().ShouldBeLessThan(TimeSpan.FromMilliseconds(1));
        stored.QueueDeadline.ShouldBeGreaterThan(stored.CreatedAt);
        (await ScalarAsync<string>("SELECT job_id FROM credit_holds WHERE id = @p", job.HoldId)).ShouldBe(job.Id);

        // A request's hold this old would be expired; the job's is not: it lives as long as the job.
        await ExecuteAsync("UPDATE credit_holds SET created_at = now() - interval '1 day' WHERE id = @p", job.HoldId);
        await new CreditHolds(fixture.System.Database).ExpireStaleAsync(TimeSpan.FromMinutes(15));
        (await ScalarAsync<string>("SELECT state FROM credit_holds WHERE id = @p", job.HoldId)).ShouldBe("held");
        (await new Accounts.Ledger(fixture.System.Database).GetBalanceAsync(teamId)).HeldCredits.ShouldBe(0.04096m);
        (await LedgerAudit.RunAsync(fixture.System.Database, teamId, allowOpenHolds: true)).ShouldBeClean();
    }

    [Fact]
    public async Task Create_completes_the_idempotency_record_in_its_transaction_and_stores_nothing_when_the_key_was_taken_over()
    {
        var (teamId, _) = await fixture.System.CreateTeamAsync(credits: 1m);
        var keys = new IdempotencyStore(fixture.System.Database, Options.Create(new MeteringOptions()));
        var job = await NewJobAsync(teamId, 0.01m);
        var fingerprint = new byte[32];
        (await keys.ClaimAsync(teamId, "key-1", fingerprint, job.RequestId, default)).Outcome.ShouldBe(IdempotencyStore.Outcome.Acquired);
        var body = "{\"id\":\"x\"}"u8.ToArray();

        await Store.CreateAsync(job, new IdempotentResponse("key-1", 202, "application/json", body), default);

        var replay = await keys.ClaimAsync(teamId, "key-1", fingerprint, "req_retry", default);
        replay.Outcome.ShouldBe(IdempotencyStore.Outcome.Replay);
        replay.StatusCode.ShouldBe(202);
        replay.Body.ShouldBe(body);

        // A request that no longer owns its key stores no job and keeps its hold (its own release gives it back).
        var late = await NewJobAsync(teamId, 0.01m);
        var error = await Should.ThrowAsync<JobNotCreatedException>(() =>
            Store.CreateAsync(late, new IdempotentResponse("key-1", 202, "application/json", body), default));
        error.IdempotencyKeyLost.ShouldBeTrue();
        (await Store.GetAsync(teamId, late.Id, default)).ShouldBeNull();
        (await ScalarAsync<string?>("SELECT job_id FROM credit_holds WHERE id = @p", late.HoldId)).ShouldBeNull();
    }

    [Fact]
    public async Task Create_stores_nothing_when_the_hold_is_no_longer_open()
    {
        var (teamId, _) = await fixture.System.CreateTeamAsync(credits: 1m);
        var job = await NewJobAsync(teamId, 0.01m);
        (await new CreditHolds(fixture.System.Database).ReleaseAsync(job.HoldId)).ShouldBeTrue();

        var error = await Should.ThrowAsync<JobNotCreatedException>(() => Store.CreateAsync(job, null, default));

        error.IdempotencyKeyLost.ShouldBeFalse();
        (await Store.GetByIdAsync(job.Id, default)).ShouldBeNull();
    }

    [Fact]
    public async Task A_job_that_succeeds_is_charged_its_estimate_once_under_the_create_request_with_one_output_set()
    {
        var (teamId, _) = await fixture.System.CreateTeamAsync(credits: 1m);
        var job = await NewJobAsync(teamId, 0.08192m, n: 2);
        await Store.CreateAsync(job, null, default);

        var started = (await Store.StartAsync(job.Id, default)).ShouldNotBeNull();
        started.Status.ShouldBe(JobStatus.Processing);
        started.Attempts.ShouldBe(1);
        var expires = _clock.GetUtcNow().AddDays(7);
        var first = await Store.SaveOutputAsync(job.Id, 0, OutputBlobs.BlobName(job.Id, 0, "image/png"), "image/png", 1234, 1024, 1024, expires, default);
        await Store.SaveOutputAsync(job.Id, 1, OutputBlobs.BlobName(job.Id, 1, "image/png"), "image/png", 999, 1024, 1024, expires, default);

        // A retried run (the worker died): processing again, same output tokens, overwritten sizes.
        (await Store.StartAsync(job.Id, default)).ShouldNotBeNull().Attempts.ShouldBe(2);
        var again = await Store.SaveOutputAsync(job.Id, 0, first.BlobName, "image/png", 1300, 1024, 1024, expires, default);
        again.Token.ShouldBe(first.Token);
        again.Bytes.ShouldBe(1300);
        first.Token.Length.ShouldBe(43, "256 random bits in base64url");

        (await Store.SucceedAsync(job.Id, expires, default)).ShouldBeTrue();
        (await Store.SucceedAsync(job.Id, expires, default)).ShouldBeTrue("a retried success is the same success");
        (await Store.EndWithoutChargeAsync(job.Id, JobStatus.Failed, "generation_failed", "late", default)).ShouldBeFalse();
        (await Store.StartAsync(job.Id, default)).ShouldBeNull("an ended job does not run again");

        var done = (await Store.GetAsync(teamId, job.Id, default)).ShouldNotBeNull();
        done.Status.ShouldBe(JobStatus.Succeeded);
        done.CreditsCharged.ShouldBe(0.08192m);
        done.ReceiptId.ShouldNotBeNull();
        (done.ExpiresAt.ShouldNotBeNull() - expires).Duration().ShouldBeLessThan(TimeSpan.FromMilliseconds(1));
        done.CompletedAt.ShouldNotBeNull();
        done.Outputs.Select(o => o.Index).ShouldBe([0, 1]);
        done.Outputs[0].Token.ShouldBe(first.Token);

        var balance = await new Accounts.Ledger(fixture.System.Database).GetBalanceAsync(teamId);
        balance.Credits.ShouldBe(1m - 0.08192m);
        balance.HeldCredits.ShouldBe(0m);
        var audit = await LedgerAudit.RunAsync(fixture.System.Database, teamId);
        audit.ShouldBeClean();
        audit.Receipts.ShouldBe(1);
        await using var cmd = fixture.System.Database.CreateCommand(
            "SELECT request_id, endpoint, model, tokens::text, amount FROM usage_receipts WHERE id = @id");
        cmd.Parameters.AddWithValue("id", done.ReceiptId!);
        await using var r = await cmd.ExecuteReaderAsync();
        (await r.ReadAsync()).ShouldBeTrue();
        r.GetString(0).ShouldBe(job.RequestId);
        r.GetString(1).ShouldBe("images");
        r.GetString(2).ShouldBe(Model);
        JsonDocument.Parse(r.GetString(3)).RootElement.GetProperty("output").GetProperty("image").GetInt64().ShouldBe(8192);
        r.GetDecimal(4).ShouldBe(0.08192m);
    }

    [Fact]
    public async Task Cancel_ends_a_pending_job_and_releases_its_hold_flags_a_running_one_and_refuses_an_ended_one()
    {
        var (teamId, _) = await fixture.System.CreateTeamAsync(credits: 1m);
        var (otherTeam, _) = await fixture.System.CreateTeamAsync(credits: 1m);
        var pending = await NewJobAsync(teamId, 0.25m);
        var running = await NewJobAsync(teamId, 0.25m);
        await Store.CreateAsync(pending, null, default);
        await Store.CreateAsync(running, null, default);
        await Store.StartAsync(running.Id, default);
        (await new Accounts.Ledger(fixture.System.Database).GetBalanceAsync(teamId)).AvailableCredits.ShouldBe(0.5m);

        (await Store.CancelAsync(otherTeam, pending.Id, default)).ShouldBe(CancelOutcome.NotFound, "another team's job is not found");
        (await Store.CancelAsync(teamId, "img_nosuchjob", default)).ShouldBe(CancelOutcome.NotFound);
        (await Store.CancelAsync(teamId, pending.Id, default)).ShouldBe(CancelOutcome.Cancelled);
        (await Store.CancelAsync(teamId, pending.Id, default)).ShouldBe(CancelOutcome.AlreadyTerminal);
        (await Store.IsCancelRequestedAsync(running.Id, default)).ShouldBeFalse();
        (await Store.CancelAsync(teamId, running.Id, default)).ShouldBe(CancelOutcome.Requested);
        (await Store.IsCancelRequestedAsync(running.Id, default)).ShouldBeTrue();

        var cancelled = (await Store.GetAsync(teamId, pending.Id, default)).ShouldNotBeNull();
        cancelled.Status.ShouldBe(JobStatus.Cancelled);
        cancelled.CreditsCharged.ShouldBe(0m);
        cancelled.CompletedAt.ShouldNotBeNull();
        (await Store.StartAsync(pending.Id, default)).ShouldBeNull("a cancelled job never starts");
        (await new Accounts.Ledger(fixture.System.Database).GetBalanceAsync(teamId)).AvailableCredits.ShouldBe(0.75m, "the pending job's hold is back");

        // The runner sees the flag and ends the job within a step; a success that races it loses.
        (await Store.EndWithoutChargeAsync(running.Id, JobStatus.Cancelled, null, null, default)).ShouldBeTrue();
        (await Store.SucceedAsync(running.Id, _clock.GetUtcNow().AddDays(7), default)).ShouldBeFalse();
        (await new Accounts.Ledger(fixture.System.Database).GetBalanceAsync(teamId)).Credits.ShouldBe(1m, "nothing charged");
        (await LedgerAudit.RunAsync(fixture.System.Database, teamId)).ShouldBeClean();
    }

    [Fact]
    public async Task Ending_without_a_charge_records_the_error_and_releases_the_hold_once()
    {
        var (teamId, _) = await fixture.System.CreateTeamAsync(credits: 1m);
        var job = await NewJobAsync(teamId, 0.5m);
        await Store.CreateAsync(job, null, default);
        await Store.StartAsync(job.Id, default);

        (await Store.EndWithoutChargeAsync(job.Id, JobStatus.ModerationRejected, "sexual_minors", "The prompt was refused.", default)).ShouldBeTrue();
        (await Store.EndWithoutChargeAsync(job.Id, JobStatus.Failed, "generation_failed", "again", default)).ShouldBeFalse();
        await Should.ThrowAsync<ArgumentOutOfRangeException>(() => Store.EndWithoutChargeAsync(job.Id, JobStatus.Succeeded, null, null, default));

        var ended = (await Store.GetByIdAsync(job.Id, default)).ShouldNotBeNull();
        ended.Status.ShouldBe(JobStatus.ModerationRejected);
        ended.ErrorCode.ShouldBe("sexual_minors");
        ended.ErrorMessage.ShouldBe("The prompt was refused.");
        (await ScalarAsync<string>("SELECT state FROM credit_holds WHERE id = @p", job.HoldId)).ShouldBe("released");
        (await LedgerAudit.RunAsync(fixture.System.Database, teamId)).ShouldBeClean();
    }

    [Fact]
    public async Task Pending_jobs_past_their_queue_deadline_expire_by_the_clock_with_their_holds_released()
    {
        var (teamId, _) = await fixture.System.CreateTeamAsync(credits: 1m);
        var waiting = await NewJobAsync(teamId, 0.1m);
        var running = await NewJobAsync(teamId, 0.1m);
        await Store.CreateAsync(waiting, null, default);
        await Store.CreateAsync(running, null, default);
        await Store.StartAsync(running.Id, default);

        (await Store.ExpireOverdueAsync(default)).ShouldNotContain(waiting.Id, "its deadline is an hour away");
        _clock.Advance(TimeSpan.FromHours(1) + TimeSpan.FromSeconds(1));
        var expired = await Store.ExpireOverdueAsync(default);

        expired.ShouldContain(waiting.Id);
        expired.ShouldNotContain(running.Id, "a started job is the runner's to end");
        var row = (await Store.GetByIdAsync(waiting.Id, default)).ShouldNotBeNull();
        row.Status.ShouldBe(JobStatus.Expired);
        row.ErrorCode.ShouldBe("job_expired");
        (await new Accounts.Ledger(fixture.System.Database).GetBalanceAsync(teamId)).HeldCredits.ShouldBe(0.1m, "only the running job still holds");
    }

    [Fact]
    public async Task Outputs_are_found_by_token_listed_for_deletion_after_expiry_and_marked_deleted()
    {
        var (teamId, _) = await fixture.System.CreateTeamAsync(credits: 1m);
        var job = await NewJobAsync(teamId, 0.01m);
        await Store.CreateAsync(job, null, default);
        await Store.StartAsync(job.Id, default);
        var expires = _clock.GetUtcNow().AddDays(7);
        var output = await Store.SaveOutputAsync(job.Id, 0, OutputBlobs.BlobName(job.Id, 0, "image/png"), "image/png", 10, 1024, 1024, expires, default);
        await Store.SucceedAsync(job.Id, expires, default);

        var found = (await Store.FindOutputAsync(output.Token, default)).ShouldNotBeNull();
        found.Output.ShouldBe(output);
        found.Job.Id.ShouldBe(job.Id);
        (await Store.FindOutputAsync("no-such-token", default)).ShouldBeNull();

        (await Store.ExpiredOutputsAsync(1000, default)).ShouldNotContain(o => o.Token == output.Token);
        _clock.Advance(TimeSpan.FromDays(7) + TimeSpan.FromSeconds(1));
        (await Store.ExpiredOutputsAsync(100_000, default)).ShouldContain(o => o.Token == output.Token);
        await Store.MarkOutputDeletedAsync(output.Token, default);
        (await Store.ExpiredOutputsAsync(100_000, default)).ShouldNotContain(o => o.Token == output.Token);
        (await Store.FindOutputAsync(output.Token, default)).ShouldNotBeNull().Output.DeletedAt.ShouldNotBeNull();
    }

    [Fact]
    public async Task The_dispatcher_choice_is_recorded_with_its_source()
    {
        var (teamId, _) = await fixture.System.CreateTeamAsync(credits: 1m);
        var job = await NewJobAsync(teamId, 0.01m);
        await Store.CreateAsync(job, null, default);

        await Store.SetLoraAsync(job.Id, "watercolor", JobStore.LoraFromDispatcher, default);

        var row = (await Store.GetByIdAsync(job.Id, default)).ShouldNotBeNull();
        row.LoraId.ShouldBe("watercolor");
        row.LoraSource.ShouldBe("dispatcher");
        row.Spec.LoraId.ShouldBeNull("the spec keeps what the client asked");
        await Should.ThrowAsync<ArgumentOutOfRangeException>(() => Store.SetLoraAsync(job.Id, "x", "somebody", default));
    }

    [Fact]
    public async Task Lists_are_newest_first_per_team_and_kind_with_a_cursor()
    {
        var (teamId, _) = await fixture.System.CreateTeamAsync(credits: 1m);
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            var job = await NewJobAsync(teamId, 0.01m);
            await Store.CreateAsync(job, null, default);
            ids.Add(job.Id);
            _clock.Advance(TimeSpan.FromMilliseconds(5));
        }
        ids.Reverse();

        var (page1, more1) = await Store.ListAsync(teamId, JobKind.Image, 2, null, default);
        var (page2, more2) = await Store.ListAsync(teamId, JobKind.Image, 2, page1[^1].Id, default);
        var (page3, more3) = await Store.ListAsync(teamId, JobKind.Image, 2, page2[^1].Id, default);

        page1.Select(j => j.Id).Concat(page2.Select(j => j.Id)).Concat(page3.Select(j => j.Id)).ShouldBe(ids);
        (more1, more2, more3).ShouldBe((true, true, false));
        (await Store.ListAsync(teamId, JobKind.Video, 10, null, default)).Jobs.ShouldBeEmpty();
    }

    [Fact]
    public async Task The_view_renders_the_row_with_urls_until_the_outputs_expire()
    {
        var (teamId, _) = await fixture.System.CreateTeamAsync(credits: 1m);
        var job = await NewJobAsync(teamId, 0.04096m);
        await Store.CreateAsync(job, null, default);
        var pending = JsonDocument.Parse(JobView.Render((await Store.GetByIdAsync(job.Id, default))!, PublicBase, _clock.GetUtcNow())).RootElement;
        pending.GetProperty("status").GetString().ShouldBe("pending");
        pending.GetProperty("output_urls").GetArrayLength().ShouldBe(0);
        pending.GetProperty("error").ValueKind.ShouldBe(JsonValueKind.Null);
        pending.GetProperty("started_at").ValueKind.ShouldBe(JsonValueKind.Null);
        pending.GetProperty("usage").GetProperty("credits_charged").GetDecimal().ShouldBe(0m);

        await Store.StartAsync(job.Id, default);
        var expires = _clock.GetUtcNow().AddDays(7);
        var output = await Store.SaveOutputAsync(job.Id, 0, OutputBlobs.BlobName(job.Id, 0, "image/png"), "image/png", 10, 1024, 1024, expires, default);
        await Store.SucceedAsync(job.Id, expires, default);
        var row = (await Store.GetByIdAsync(job.Id, default))!;
        var view = JsonDocument.Parse(JobView.Render(row, PublicBase, _clock.GetUtcNow())).RootElement;

        view.GetProperty("id").GetString().ShouldBe(job.Id);
        view.GetProperty("object").GetString().ShouldBe("image");
        view.GetProperty("model").GetString().ShouldBe(Model);
        view.GetProperty("status").GetString().ShouldBe("succeeded");
        view.GetProperty("prompt").GetString().ShouldBe(job.Spec.Prompt);
        view.GetProperty("size").GetString().ShouldBe("1k_1_1");
        view.GetProperty("width").GetInt32().ShouldBe(1024);
        view.GetProperty("seed").GetInt64().ShouldBe(job.Spec.Seed);
        view.GetProperty("output_urls")[0].GetString().ShouldBe($"http://api.example.test:8080/v1/outputs/{output.Token}");
        var usage = view.GetProperty("usage");
        usage.GetProperty("output_tokens").GetInt64().ShouldBe(4096);
        usage.GetProperty("credits_estimated").GetRawText().ShouldBe("0.04096");
        usage.GetProperty("credits_charged").GetRawText().ShouldBe("0.04096");
        usage.GetProperty("breakdown").GetProperty("output").GetProperty("image").GetRawText().ShouldBe("0.04096");
        usage.GetProperty("breakdown").GetProperty("model").GetString().ShouldBe(Model);
        view.GetProperty("created_at").GetInt64().ShouldBe(job.CreatedAt.ToUnixTimeSeconds());
        view.GetProperty("expires_at").GetInt64().ShouldBe(expires.ToUnixTimeSeconds());

        var later = JsonDocument.Parse(JobView.Render(row, PublicBase, expires.AddSeconds(1))).RootElement;
        later.GetProperty("output_urls").GetArrayLength().ShouldBe(0, "expired outputs are no longer linked");
    }

    [Fact]
    public async Task Output_blobs_upload_overwrite_read_by_range_and_delete()
    {
        var blobs = new OutputBlobs(new BlobServiceClient(fixture.System.ConnectionString("blobs")));
        var name = OutputBlobs.BlobName("img_" + Persistence.Ulid.NewUlid(), 0, "image/png");
        var bytes = Enumerable.Range(0, 10_000).Select(i => (byte)i).ToArray();

        await blobs.UploadAsync(name, new byte[] { 1, 2, 3 }, "image/png", default);
        await blobs.UploadAsync(name, bytes, "image/png", default);

        await using (var stream = (await blobs.OpenReadAsync(name, default)).ShouldNotBeNull())
        {
            stream.CanSeek.ShouldBeTrue();
            stream.Length.ShouldBe(bytes.Length);
            stream.Seek(5000, SeekOrigin.Begin);
            var part = new byte[100];
            await stream.ReadExactlyAsync(part);
            part.ShouldBe(bytes[5000..5100]);
        }
        await blobs.DeleteAsync(name, default);
        await blobs.DeleteAsync(name, default);
        (await blobs.OpenReadAsync(name, default)).ShouldBeNull();
    }

    /// <summary>A job of the image model for <paramref name="teamId"/>, its hold placed as the metering pipeline does.</summary>
    private async Task<NewJob> NewJobAsync(string teamId, decimal estimate, int n = 1)
    {
        var requestId = Persistence.Ulid.NewId("req");
        var holdId = (await new CreditHolds(fixture.System.Database).TryPlaceAsync(teamId, requestId, "images", Model, estimate)).ShouldNotBeNull();
        var now = _clock.GetUtcNow();
        var tokens = 4096L * n;
        var spec = new GenerationSpec(Model, "a lighthouse at dusk, watercolor", null, "1k_1_1", 1024, 1024, n, 42, null, null);
        return new NewJob(
            JobStore.NewId(JobKind.Image, now), teamId, "key_test", requestId, JobKind.Image, spec, null, holdId, estimate,
            JsonSerializer.Serialize(new { output = new { image = tokens } }), """{"input":{},"output":{"image":10.0}}""",
            JsonSerializer.Serialize(new { output = new { image = estimate } }),
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", now, now.AddHours(1));
    }

    private async Task<T> ScalarAsync<T>(string sql, string p)
    {
        await using var cmd = fixture.System.Database.CreateCommand(sql);
        cmd.Parameters.AddWithValue("p", p);
        var value = await cmd.ExecuteScalarAsync();
        return value is DBNull ? default! : (T)value!;
    }

    private async Task ExecuteAsync(string sql, string p)
    {
        await using var cmd = fixture.System.Database.CreateCommand(sql);
        cmd.Parameters.AddWithValue("p", p);
        await cmd.ExecuteNonQueryAsync();
    }
}
