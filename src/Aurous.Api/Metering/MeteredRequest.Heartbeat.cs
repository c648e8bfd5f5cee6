namespace Aurous.Api.Metering;

public sealed partial class MeteredRequest
{
    /// <summary>
    /// The renewals of one request: a one-shot timer armed again after each beat, so a request that settles before its
    /// first beat (almost all of them) costs one timer and nothing else: no cancellation, no extra thread hop.
    /// </summary>
    private sealed class Heartbeat
    {
        private readonly MeteredRequest _request;
        private readonly TimeSpan _every;
        private readonly Timer _timer;
        private readonly Lock _gate = new();
        private readonly CancellationTokenSource _stop = new();
        private Task _beat = Task.CompletedTask;
        private string? _holdId;
        private string? _key;
        private bool _stopped;

        public Heartbeat(MeteredRequest request, TimeSpan every)
        {
            _request = request;
            _every = every;
            _holdId = request._holdId;
            _key = request._idempotencyKey;
            _timer = new Timer(_ => Fire(), null, every, Timeout.InfiniteTimeSpan);
        }

        private void Fire()
        {
            lock (_gate)
            {
                if (!_stopped)
                {
                    _beat = Task.Run(BeatAsync);
                }
            }
        }

        private async Task BeatAsync()
        {
            var pipeline = _request._pipeline;
            var rc = _request._rc;
            try
            {
                if (_holdId is not null && !await pipeline.Holds.RenewAsync(_holdId, _stop.Token))
                {
                    pipeline.Log.LogError("Hold {HoldId} of {RequestId} is no longer open while the request still works; it will not be charged.", _holdId, rc.RequestId);
                    _holdId = null;
                }
                if (_key is not null && !await pipeline.Idempotency.RenewAsync(rc.TeamId, _key, rc.RequestId, _stop.Token))
                {
                    pipeline.Log.LogWarning("Request {RequestId} no longer owns its Idempotency-Key; its capture will be refused.", rc.RequestId);
                    _key = null;
                }
            }
            catch (Exception ex) when (!_stop.IsCancellationRequested)
            {
                // A missed beat is survivable (the lifetimes are at least two beats); the next one tries again.
                pipeline.Log.LogWarning(ex, "Could not renew the hold and key of {RequestId}", rc.RequestId);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return; // stopped while renewing: the request is settling
            }
            lock (_gate)
            {
                if (!_stopped)
                {
                    _timer.Change(_every, Timeout.InfiniteTimeSpan);
                }
            }
        }

        /// <summary>Stops the beats; a renewal in flight is cancelled and awaited, so none runs after this returns.</summary>
        public async Task StopAsync()
        {
            Task beat;
            lock (_gate)
            {
                _stopped = true;
                beat = _beat;
            }
            await _timer.DisposeAsync();
            if (!beat.IsCompleted)
            {
                await _stop.CancelAsync();
                await beat;
            }
            _stop.Dispose();
        }
    }
}
