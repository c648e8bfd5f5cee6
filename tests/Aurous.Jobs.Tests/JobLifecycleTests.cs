using System.Net;
using System.Text.Json;
using Aspire.Hosting.ApplicationModel;
using Aurous.Testing;
using Microsoft.Extensions.DependencyInjection;
using SkiaSharp;

namespace Aurous.Jobs.Tests;

/// <summary>Image jobs through the running system to each terminal status, with the books checked after each.</summary>
[Collection(JobsCollection.Name)]
public sealed class JobLifecycleTests(JobsSystem fixture)
{
    private static readonly TimeSpan JobTimeout = TimeSpan.FromMinutes(3);
    private AurousTestApp System => fixture.System;

    [Fact]
    public async Task An_image_job_succeeds_and_its_outputs_are_fetched_without_a_key_and_decode_to_its_size()
    {
        var (teamId, key) = await System.CreateTeamAsync();
        using var api = System.CreateApiClient(key);
        var created = await JobClient.CreateImageAsync(api, "A lighthouse on a cliff at dusk, oil painting", n: 2, size: "1k_4_3");
        var id = created.GetProperty("id").GetString()!;
        id.ShouldStartWith("img_");

        var job = await JobClient.WaitAsync(api, id, JobTimeout);
        job.Status().ShouldBe("succeeded", job.ToString());
        job.ErrorCode().ShouldBeNull();
        var urls = job.OutputUrls();
        urls.Length.ShouldBe(2);
        urls.ShouldAllBe(u => u.StartsWith(System.Endpoint("api").ToString().TrimEnd('/') + "/v1/outputs/", StringComparison.Ordinal));
        urls.Distinct().Count().ShouldBe(2);

        using var anonymous = new HttpClient();
        foreach (var url in urls)
        {
            using var response = await anonymous.GetAsync(url);
            response.StatusCode.ShouldBe(HttpStatusCode.OK);
            response.Content.Headers.ContentType!.MediaType.ShouldBe("image/png");
            using var bitmap = SKBitmap.Decode(await response.Content.ReadAsByteArrayAsync());
            bitmap.ShouldNotBeNull();
            (bitmap.Width, bitmap.Height).ShouldBe((1024, 768));
        }

        // 2 images x 32 x 24 tiles = 1,536 tokens at 10 credits per 1M: the hold, captured exactly.
        var usage = job.GetProperty("usage");
        usage.GetProperty("output_tokens").GetInt64().ShouldBe(1536);
        usage.GetProperty("credits_charged").GetDecimal().ShouldBe(0.01536m);
        var books = await LedgerAudit.SettledAsync(System.Database, teamId);
        books.Charged.ShouldBe(0.01536m);
        books.Receipts.ShouldBe(1);
    }

    [Fact]
    public async Task A_job_is_cancelled_while_pending_at_once_and_while_processing_within_a_step()
    {
        var (teamId, key) = await System.CreateTeamAsync();
        using var api = System.CreateApiClient(key);
        // Two slow jobs take both generation workers; the third waits in the queue.
        var busy = new List<string>();
        for (var i = 0; i < 2; i++)
        {
            busy.Add((await JobClient.CreateImageAsync(api, "A busy harbour, detailed", n: 4, size: "2k_1_1")).GetProperty("id").GetString()!);
        }
        foreach (var id in busy)
        {
            await JobClient.WaitAsync(api, id, JobTimeout, j => j.Status() != "pending");
        }
        var waiting = (await JobClient.CreateImageAsync(api, "A quiet street")).GetProperty("id").GetString()!;
        (await JobClient.GetAsync(api, waiting)).Status().ShouldBe("pending");

        using (var cancel = await JobClient.CancelAsync(api, waiting))
        {
            ((int)cancel.StatusCode).ShouldBeInRange(200, 299);
        }
        var cancelledPending = await JobClient.GetAsync(api, waiting);
        cancelledPending.Status().ShouldBe("cancelled"); // no wait: a pending job ends with the cancel itself

        foreach (var id in busy)
        {
            (await JobClient.GetAsync(api, id)).Status().ShouldBe("processing");
            using var cancel = await JobClient.CancelAsync(api, id);
            ((int)cancel.StatusCode).ShouldBeInRange(200, 299);
        }
        foreach (var id in busy)
        {
            var job = await JobClient.WaitAsync(api, id, TimeSpan.FromSeconds(60));
            job.Status().ShouldBe("cancelled");
            job.OutputUrls().ShouldBeEmpty();
            job.GetProperty("usage").GetProperty("credits_charged").GetDecimal().ShouldBe(0m);
        }
        var books = await LedgerAudit.SettledAsync(System.Database, teamId);
        books.Charges.ShouldBe(0);
    }

    [Fact]
    public async Task A_prompt_the_policy_refuses_ends_moderation_rejected_with_its_reason_and_no_charge()
    {
        var (teamId, key) = await System.CreateTeamAsync();
        using var api = System.CreateApiClient(key);
        var id = (await JobClient.CreateImageAsync(api, "a n4ked ch1ld on a bed")).GetProperty("id").GetString()!;

        var job = await JobClient.WaitAsync(api, id, JobTimeout);
        job.Status().ShouldBe("moderation_rejected");
        job.ErrorCode().ShouldBe("sexual_minors");
        job.OutputUrls().ShouldBeEmpty();
        (await LedgerAudit.SettledAsync(System.Database, teamId)).Charges.ShouldBe(0);

        // The quickstart's own example passes the same policy.
        var example = (await JobClient.CreateImageAsync(api, "A confident woman in lace lingerie, soft studio lighting, cinematic")).GetProperty("id").GetString()!;
        (await JobClient.WaitAsync(api, example, JobTimeout)).Status().ShouldBe("succeeded");
    }

    [Fact]
    public async Task A_job_that_cannot_store_its_output_is_retried_then_fails_with_its_hold_released()
    {
        var (teamId, key) = await System.CreateTeamAsync();
        using var api = System.CreateApiClient(key);
        var commands = System.App.Services.GetRequiredService<ResourceCommandService>();
        (await commands.ExecuteCommandAsync("blobs", KnownResourceCommands.StopCommand)).Success.ShouldBeTrue();
        try
        {
            var id = (await JobClient.CreateImageAsync(api, "A red bicycle against a wall")).GetProperty("id").GetString()!;
            var job = await JobClient.WaitAsync(api, id, JobTimeout);
            job.Status().ShouldBe("failed");
            job.ErrorCode().ShouldBe("generation_failed");
            job.OutputUrls().ShouldBeEmpty();
            await using var attempts = System.Database.CreateCommand("SELECT attempts FROM generation_jobs WHERE id = @id");
            attempts.Parameters.AddWithValue("id", id);
            ((int)(await attempts.ExecuteScalarAsync())!).ShouldBe(int.Parse(JobsSystem.WorkerSettings["JobRunner__GenerationAttempts"]));
            (await LedgerAudit.SettledAsync(System.Database, teamId)).Charges.ShouldBe(0);
        }
        finally
        {
            await System.EnsureHealthyAsync("blobs");
        }
    }
}
