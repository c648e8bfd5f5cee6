using System.Diagnostics;
using Aspire.Hosting.ApplicationModel;
using Aurous.Testing;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Aurous.Jobs.Tests;

/// <summary>Jobs survive a killed worker and a burst: each ends once, with one output set and one charge.</summary>
[Collection(JobsCollection.Name)]
public sealed class JobDurabilityTests(JobsSystem fixture, ITestOutputHelper output)
{
    private AurousTestApp System => fixture.System;

    [Fact]
    public async Task A_job_whose_worker_is_killed_mid_run_is_run_again_and_ends_with_one_output_set_and_one_charge()
    {
        await fixture.RestartedAsync(JobsSystem.Worker);
        var (teamId, key) = await System.CreateTeamAsync();
        using var api = System.CreateApiClient(key);
        const int Images = 4;
        var id = (await JobClient.CreateImageAsync(api, "A mountain village in winter", n: Images, size: "2k_1_1")).GetProperty("id").GetString()!;

        // Kill the worker once the job has stored its first output (and is still making the others).
        var before = await WaitForOutputsAsync(id, atLeast: 1, TimeSpan.FromMinutes(3));
        before.Count.ShouldBeLessThan(Images);
        var worker = Process.GetProcessById(await System.ProcessIdAsync(JobsSystem.Worker));
        worker.Kill(entireProcessTree: true);
        await worker.WaitForExitAsync();
        var killedAt = Stopwatch.StartNew();
        using (var exited = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            await System.App.Services.GetRequiredService<ResourceNotificationService>().WaitForResourceAsync(JobsSystem.Worker,
                e => e.Snapshot.State?.Text is "Exited" or "Finished" or "FailedToStart", exited.Token);
        }
        await fixture.RestartedAsync(JobsSystem.Worker);

        var job = await JobClient.WaitAsync(api, id, TimeSpan.FromMinutes(5));
        var resumed = killedAt.Elapsed;
        job.Status().ShouldBe("succeeded", job.ToString());
        // (Its links are not compared here: the restarted worker's clock may trail the API's if another test moved them.)
        var after = await OutputsAsync(id);
        after.Count.ShouldBe(Images);
        // The outputs stored before the kill kept their tokens (their links did not change).
        foreach (var (index, token) in before)
        {
            after[index].ShouldBe(token);
        }
        (await AttemptsAsync(id)).ShouldBeGreaterThanOrEqualTo(2);
        var books = await LedgerAudit.SettledAsync(System.Database, teamId);
        books.Charges.ShouldBe(1);
        books.Receipts.ShouldBe(1);
        output.WriteLine($"killed with {before.Count}/{Images} outputs stored; finished {resumed.TotalSeconds:0.0} s after the kill; {books}");
    }

    [Fact]
    public async Task Fifty_jobs_submitted_at_once_all_finish_and_the_books_reconcile_to_the_receipts()
    {
        var (teamId, key) = await System.CreateTeamAsync(credits: 100m);
        await System.SetLimitsAsync(teamId, rpm: 1_000_000, tpm: 100_000_000);
        using var api = System.CreateApiClient(key);
        const int Jobs = 50;
        var clock = Stopwatch.StartNew();
        var ids = await Task.WhenAll(Enumerable.Range(0, Jobs).Select(async i =>
            (await JobClient.CreateImageAsync(api, $"Still life with fruit, study {i}", size: "1k_1_1", seed: i)).GetProperty("id").GetString()!));
        var submitted = clock.Elapsed;
        ids.Distinct().Count().ShouldBe(Jobs);

        var jobs = await Task.WhenAll(ids.Select(id => JobClient.WaitAsync(api, id, TimeSpan.FromMinutes(8))));
        var finished = clock.Elapsed;
        jobs.ShouldAllBe(j => j.Status() == "succeeded");
        jobs.SelectMany(j => j.OutputUrls()).Distinct().Count().ShouldBe(Jobs);

        var books = await LedgerAudit.SettledAsync(System.Database, teamId);
        books.Receipts.ShouldBe(Jobs);
        books.Charges.ShouldBe(Jobs);
        books.Charged.ShouldBe(Jobs * 0.01024m);
        books.Credits.ShouldBe(100m - Jobs * 0.01024m);
        output.WriteLine($"{Jobs} jobs submitted in {submitted.TotalSeconds:0.0} s, all finished in {finished.TotalSeconds:0.0} s " +
            $"({Jobs / finished.TotalMinutes:0.0} images/min on {JobsSystem.WorkerSettings["JobRunner__GenerationWorkers"]} workers); {books}");
    }

    private async Task<Dictionary<int, string>> WaitForOutputsAsync(string jobId, int atLeast, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var outputs = await OutputsAsync(jobId);
            if (outputs.Count >= atLeast)
            {
                return outputs;
            }
            clock.Elapsed.ShouldBeLessThan(timeout);
            await Task.Delay(50);
        }
    }

    private async Task<Dictionary<int, string>> OutputsAsync(string jobId)
    {
        await using var cmd = System.Database.CreateCommand("SELECT index, token FROM generation_outputs WHERE job_id = @id");
        cmd.Parameters.AddWithValue("id", jobId);
        var outputs = new Dictionary<int, string>();
        await using var reader = await cmd.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            outputs[reader.GetInt32(0)] = reader.GetString(1);
        }
        return outputs;
    }

    private async Task<int> AttemptsAsync(string jobId)
    {
        await using var cmd = System.Database.CreateCommand("SELECT attempts FROM generation_jobs WHERE id = @id");
        cmd.Parameters.AddWithValue("id", jobId);
        return (int)(await cmd.ExecuteScalarAsync())!;
    }
}
