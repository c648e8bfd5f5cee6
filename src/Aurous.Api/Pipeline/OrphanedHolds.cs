using System.Threading.Channels;
using Aurous.Accounts;
using Npgsql;

namespace Aurous.Api.Pipeline;

/// <summary>
/// Releases credit holds left open by requests that have ended: a request releases its own hold when it fails, but
/// not while Postgres is unreachable (a restart, an outage). Every request that ended in a 5xx, was aborted or threw is
/// checked here once it is over, in batches, retried until Postgres answers (for up to <see cref="GiveUpAfter"/>;
/// the hold sweeper remains the last net). A hold of a request that has ended can only be an orphan, so releasing it is safe;
/// a hold handed to a job is not the request's any more and is left to the job.
/// </summary>
public sealed class OrphanedHolds(NpgsqlDataSource db, CreditHolds holds, ILogger<OrphanedHolds> log) : BackgroundService
{
    private static readonly TimeSpan GiveUpAfter = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan Pause = TimeSpan.FromSeconds(1);
    private const int Batch = 500;

    private readonly Channel<string> _ended = Channel.CreateBounded<string>(new BoundedChannelOptions(10_000) { FullMode = BoundedChannelFullMode.DropOldest });

    /// <summary>Queues the ended request <paramref name="requestId"/> for a check of its holds.</summary>
    public void Check(string requestId) => _ended.Writer.TryWrite(requestId);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var ids = new List<string>(Batch);
        try
        {
            while (await _ended.Reader.WaitToReadAsync(stoppingToken))
            {
                // Let a burst gather (and a restarting Postgres come back) before asking.
                await Task.Delay(Pause, stoppingToken);
                while (ids.Count < Batch && _ended.Reader.TryRead(out var id))
                {
                    ids.Add(id);
                }
                await ReleaseAsync(ids, stoppingToken);
                ids.Clear();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task ReleaseAsync(List<string> requestIds, CancellationToken ct)
    {
        var giveUp = DateTime.UtcNow + GiveUpAfter;
        while (true)
        {
            try
            {
                await using var cmd = db.CreateCommand("SELECT id FROM credit_holds WHERE state = 'held' AND job_id IS NULL AND request_id = ANY(@ids)");
                cmd.Parameters.AddWithValue("ids", requestIds.ToArray());
                var open = new List<string>();
                await using (var reader = await cmd.ExecuteReaderAsync(ct))
                {
                    while (await reader.ReadAsync(ct))
                    {
                        open.Add(reader.GetString(0));
                    }
                }
                foreach (var hold in open)
                {
                    await holds.ReleaseAsync(hold, ct);
                }
                if (open.Count > 0)
                {
                    log.LogWarning("Released {Count} credit holds left open by requests that ended while Postgres was unreachable.", open.Count);
                }
                return;
            }
            catch (Exception ex) when (ex is NpgsqlException or TimeoutException && DateTime.UtcNow < giveUp)
            {
                db.Clear();
                await Task.Delay(Pause, ct);
            }
            catch (Exception ex) when (ex is NpgsqlException or TimeoutException)
            {
                log.LogError(ex, "Could not check {Count} ended requests for open holds; the hold sweeper will release any.", requestIds.Count);
                return;
            }
        }
    }
}
