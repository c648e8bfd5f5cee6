using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Aurous.Testing;
using Azure.Storage.Blobs;

namespace Aurous.Jobs.Tests;

/// <summary>
/// Time-driven endings, with every service's clock moved forward (never slept): a job still queued at its deadline
/// expires, and outputs expire after seven days (410 output_expired) and their blobs are deleted by upkeep.
/// </summary>
[Collection(JobsCollection.Name)]
public sealed class JobExpiryTests(JobsSystem fixture)
{
    private static readonly TimeSpan JobTimeout = TimeSpan.FromMinutes(3);
    private AurousTestApp System => fixture.System;

    [Fact]
    public async Task A_job_still_queued_at_its_deadline_expires_without_a_charge()
    {
        var (teamId, key) = await System.CreateTeamAsync();
        using var api = System.CreateApiClient(key);
        var busy = new List<string>();
        for (var i = 0; i < 2; i++)
        {
            busy.Add((await JobClient.CreateImageAsync(api, "A crowded market, detailed", n: 4, size: "2k_1_1")).GetProperty("id").GetString()!);
        }
        foreach (var id in busy)
        {
            await JobClient.WaitAsync(api, id, JobTimeout, j => j.Status() != "pending");
        }
        var waiting = (await JobClient.CreateImageAsync(api, "An empty road")).GetProperty("id").GetString()!;
        (await JobClient.GetAsync(api, waiting)).Status().ShouldBe("pending");

        await using (var deadline = System.Database.CreateCommand("SELECT queue_deadline - created_at FROM generation_jobs WHERE id = @id"))
        {
            deadline.Parameters.AddWithValue("id", waiting);
            var wait = (TimeSpan)(await deadline.ExecuteScalarAsync())!;
            await System.AdvanceClockAsync(wait + TimeSpan.FromMinutes(1));
        }
        var job = await JobClient.WaitAsync(api, waiting, TimeSpan.FromSeconds(60));
        job.Status().ShouldBe("expired");
        job.ErrorCode().ShouldBe("job_expired");

        foreach (var id in busy)
        {
            using var _ = await JobClient.CancelAsync(api, id);
            await JobClient.WaitAsync(api, id, TimeSpan.FromSeconds(60));
        }
        (await LedgerAudit.SettledAsync(System.Database, teamId)).Charges.ShouldBe(0);
    }

    [Fact]
    public async Task Image_outputs_answer_410_output_expired_after_seven_days_and_their_blobs_are_deleted()
    {
        var (_, key) = await System.CreateTeamAsync();
        using var api = System.CreateApiClient(key);
        var id = (await JobClient.CreateImageAsync(api, "A bowl of lemons")).GetProperty("id").GetString()!;
        var job = await JobClient.WaitAsync(api, id, JobTimeout);
        job.Status().ShouldBe("succeeded");
        var url = job.OutputUrls().ShouldHaveSingleItem();
        using var anonymous = new HttpClient();
        (await anonymous.GetAsync(url)).StatusCode.ShouldBe(HttpStatusCode.OK);

        await System.AdvanceClockAsync(TimeSpan.FromDays(6));
        (await anonymous.GetAsync(url)).StatusCode.ShouldBe(HttpStatusCode.OK);
        await System.AdvanceClockAsync(TimeSpan.FromDays(1) + TimeSpan.FromHours(1));
        using (var expired = await anonymous.GetAsync(url))
        {
            expired.StatusCode.ShouldBe(HttpStatusCode.Gone);
            var error = JsonSerializer.Deserialize<JsonElement>(await expired.Content.ReadAsStringAsync()).GetProperty("error");
            error.GetProperty("code").GetString().ShouldBe("output_expired");
        }

        // Upkeep (every two seconds here) deletes the blob and records it.
        string blobName;
        var waited = Stopwatch.StartNew();
        while (true)
        {
            await using var cmd = System.Database.CreateCommand("SELECT blob_name, deleted_at IS NOT NULL FROM generation_outputs WHERE job_id = @id");
            cmd.Parameters.AddWithValue("id", id);
            await using var reader = await cmd.ExecuteReaderAsync();
            (await reader.ReadAsync()).ShouldBeTrue();
            blobName = reader.GetString(0);
            if (reader.GetBoolean(1))
            {
                break;
            }
            waited.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(60));
            await Task.Delay(250);
        }
        var blob = new BlobServiceClient(System.ConnectionString("blobs")).GetBlobContainerClient("outputs").GetBlobClient(blobName);
        (await blob.ExistsAsync()).Value.ShouldBeFalse();
        (await anonymous.GetAsync(url)).StatusCode.ShouldBe(HttpStatusCode.Gone);
    }
}
