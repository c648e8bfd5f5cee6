using System.Collections.Concurrent;
using System.Diagnostics;
using Aurous.Accounts;
using Microsoft.Extensions.Options;

namespace Aurous.Api.Metering;

/// <summary>
/// This API instance's credit leases: for a team it serves often (at least
/// <see cref="MeteringOptions.LeaseAfterRequestsPerSecond"/>), one open lease of a slice of the team's available
/// credits, sized to about <see cref="MeteringOptions.LeaseSpan"/> of the team's spend here and never more than
/// <see cref="MeteringOptions.LeaseMaxShare"/> of what the team has. A request's hold is then placed against the slice
/// in memory (no Postgres round trip), charged through the ledger's group commit, and what it did not spend goes back
/// to the slice; a refused or failed request gives its whole reservation back in memory. When the slice runs low it is
/// grown in the background (each growth again at most that share of what is then available) while requests that do not
/// fit take their own holds, so nobody waits for a lease. Leases are renewed while the instance runs. Once their team
/// has been quiet for <see cref="MeteringOptions.LeaseIdle"/>, and at shutdown, a lease is given out no more: its
/// unreserved part goes back at once, and it is closed when the requests placed against it have settled. The hold
/// sweeper expires the leases of a crashed instance after <see cref="MeteringOptions.LeaseLifetime"/>.
/// </summary>
public sealed class CreditLeases : BackgroundService
{
    private readonly CreditLeaseStore _store;
    private readonly MeteringOptions _options;
    private readonly ILogger<CreditLeases> _log;
    private readonly string _holder = $"lease:{Environment.MachineName}:{Environment.ProcessId}";
    private readonly ConcurrentDictionary<string, Team> _teams = new(StringComparer.Ordinal);
    private readonly long _idleTicks;

    public CreditLeases(CreditLeaseStore store, IOptions<MeteringOptions> options, ILogger<CreditLeases> log)
    {
        _store = store;
        _options = options.Value;
        _log = log;
        _idleTicks = (long)(_options.LeaseIdle.TotalSeconds * Stopwatch.Frequency);
    }

    /// <summary>One open lease as this instance knows it.</summary>
    public sealed class Lease(string id, string teamId, decimal free)
    {
        public string Id { get; } = id;
        public string TeamId { get; } = teamId;

        /// <summary>The part of the lease no request has reserved (guarded by its team's lock).</summary>
        internal decimal Free = free;

        /// <summary>Reservations not yet settled.</summary>
        internal int Outstanding;

        /// <summary>No longer given out: it is closed once its outstanding reservations settle.</summary>
        internal bool Retired;

        /// <summary>No longer open in Postgres (expired by the sweeper): nothing is charged from it or given back.</summary>
        internal bool Lost;

        /// <summary>A charge against it ended in an unknown state: only closing it (with what Postgres says it holds) is exact.</summary>
        internal bool Uncertain;
    }

    /// <summary>A request's hold placed against a lease.</summary>
    public sealed record Reservation(Lease Lease, decimal Amount);

    private sealed class Team
    {
        public readonly Lock Gate = new();
        public Lease? Current;
        public readonly List<Lease> Retired = [];
        public bool Busy;
        public Task<bool>? GivingBack;
        public long RefusedUntil;
        public long LastUse;
        // Demand seen here, in whole seconds of Stopwatch time: this second's and the last one's.
        public long Second;
        public int Count, LastCount;
        public decimal Credits, LastCredits;

        public void Note(long now, decimal amount)
        {
            var second = now / Stopwatch.Frequency;
            if (second != Second)
            {
                (LastCount, LastCredits) = second == Second + 1 ? (Count, Credits) : (0, 0m);
                (Second, Count, Credits) = (second, 0, 0m);
            }
            Count++;
            Credits += amount;
            LastUse = now;
        }
    }

    /// <summary>
    /// Places a hold of <paramref name="amount"/> against the team's lease here, or returns null (no lease, or not enough
    /// left in it): the request then takes its own hold. May start opening or growing the lease in the background.
    /// </summary>
    public Reservation? TryReserve(string teamId, decimal amount)
    {
        if (!_options.Leases)
        {
            return null;
        }
        var team = _teams.GetOrAdd(teamId, static _ => new Team());
        Reservation? reserved = null;
        decimal want;
        lock (team.Gate)
        {
            var now = Stopwatch.GetTimestamp();
            team.Note(now, amount);
            if (team.Current is { } lease && lease.Free >= amount)
            {
                lease.Free -= amount;
                lease.Outstanding++;
                reserved = new Reservation(lease, amount);
            }
            // Busy enough here: the last full second (or this one so far) reached the threshold.
            var perSecond = Math.Max(team.LastCount, team.Count);
            if (team.Busy || perSecond < _options.LeaseAfterRequestsPerSecond || now < team.RefusedUntil)
            {
                return reserved;
            }
            var creditsPerSecond = Math.Max(team.LastCredits, team.Credits);
            want = Math.Max(amount * 16, creditsPerSecond * (decimal)_options.LeaseSpan.TotalSeconds);
            // Requests that cost nothing need no lease.
            if (want <= 0 || team.Current is { } current && current.Free >= want / 2)
            {
                return reserved;
            }
            team.Busy = true;
        }
        // A slice smaller than a few requests' holds is not worth a lease: those take holds of their own.
        _ = GrowAsync(teamId, team, want, min: amount * 4);
        return reserved;
    }

    /// <summary>
    /// Settles a reservation: <paramref name="charged"/> of it was charged (0 when the request was refused or failed),
    /// and the rest goes back to the lease. <paramref name="retire"/>: the charge's outcome is unknown, so the lease is
    /// given out no more and is closed (with what Postgres says it still holds) once its reservations settle.
    /// <paramref name="lost"/>: the charge found the lease no longer open.
    /// </summary>
    public void Settle(Reservation reservation, decimal charged, bool retire = false, bool lost = false)
    {
        var lease = reservation.Lease;
        if (!_teams.TryGetValue(lease.TeamId, out var team))
        {
            return;
        }
        var giveBack = 0m;
        lock (team.Gate)
        {
            lease.Outstanding--;
            lease.Uncertain |= retire;
            if (lost || retire)
            {
                RetireLocked(team, lease, lost);
            }
            // A lost lease was released by the sweeper, an uncertain one is given back by closing it; otherwise the
            // unspent part returns to the slice, or to the team at once when the lease is given out no more.
            var unspent = reservation.Amount - charged;
            if (!lease.Lost && !lease.Uncertain)
            {
                if (lease.Retired)
                {
                    giveBack = unspent;
                }
                else
                {
                    lease.Free += unspent;
                }
            }
            team.LastUse = Stopwatch.GetTimestamp();
        }
        if (giveBack > 0)
        {
            _ = GiveBackAsync(lease, giveBack);
        }
    }

    private async Task<bool> GiveBackAsync(Lease lease, decimal amount)
    {
        try
        {
            return await _store.GiveBackAsync(lease.TeamId, lease.Id, amount);
        }
        catch (Exception ex)
        {
            // Still in the lease: closing it (or the sweeper) gives it back.
            _log.LogWarning(ex, "Could not give back {Credits} credits of lease {LeaseId}", amount, lease.Id);
            return false;
        }
    }

    /// <summary>
    /// Gives the unreserved part of the team's lease here back to the team, so that a request refused its own hold can
    /// ask again; stops leasing for the team for a while (its credits run low). True when anything was given back.
    /// </summary>
    public async Task<bool> GiveBackFreeAsync(string teamId)
    {
        if (!_teams.TryGetValue(teamId, out var team))
        {
            return false;
        }
        Task<bool> givingBack;
        lock (team.Gate)
        {
            team.RefusedUntil = Stopwatch.GetTimestamp() + _idleTicks;
            if (team.GivingBack is { IsCompleted: false } inFlight)
            {
                // Another refused request is giving it back right now: ask again once it is back.
                givingBack = inFlight;
            }
            else
            {
                var lease = team.Current;
                if (lease is null || lease.Free <= 0)
                {
                    return false;
                }
                var free = lease.Free;
                lease.Free = 0;
                // No longer given out; closed (with whatever is left) once its reservations settle.
                RetireLocked(team, lease, lost: false);
                givingBack = team.GivingBack = GiveBackAsync(lease, free);
            }
        }
        return await givingBack;
    }

    private async Task GrowAsync(string teamId, Team team, decimal want, decimal min)
    {
        var granted = 0m;
        try
        {
            Lease? current;
            lock (team.Gate)
            {
                current = team.Current;
            }
            granted = current is null ? await OpenAsync(teamId, team, want, min) : await GrowAsync(team, current, want, min);
        }
        catch (Exception ex)
        {
            _log.LogWarning(ex, "Could not open or grow the credit lease of team {TeamId}; its requests take their own holds", teamId);
        }
        finally
        {
            lock (team.Gate)
            {
                team.Busy = false;
                if (granted == 0)
                {
                    // Too little available for a slice (the team runs low), or Postgres failed: the lease keeps what it
                    // has, and requests that do not fit take their own holds for a while.
                    team.RefusedUntil = Stopwatch.GetTimestamp() + _idleTicks;
                }
            }
        }
    }

    /// <summary>Opens the team's lease; returns what it holds (0: not opened).</summary>
    private async Task<decimal> OpenAsync(string teamId, Team team, decimal want, decimal min)
    {
        var id = CreditLeaseStore.NewId();
        decimal? opened;
        try
        {
            opened = await _store.TryOpenAsync(id, teamId, _holder, want, min, (decimal)_options.LeaseMaxShare);
        }
        catch
        {
            // It may have been opened all the same (the connection broke at the commit): close it to be sure.
            lock (team.Gate)
            {
                RetireLocked(team, new Lease(id, teamId, 0m) { Uncertain = true }, lost: false);
            }
            throw;
        }
        if (opened is not { } amount)
        {
            return 0m;
        }
        lock (team.Gate)
        {
            team.Current = new Lease(id, teamId, amount);
        }
        return amount;
    }

    /// <summary>Grows the team's current lease; returns what was added (0: nothing).</summary>
    private async Task<decimal> GrowAsync(Team team, Lease lease, decimal want, decimal min)
    {
        decimal granted;
        try
        {
            granted = await _store.TryGrowAsync(lease.TeamId, lease.Id, want, min, (decimal)_options.LeaseMaxShare);
        }
        catch
        {
            // It may have grown all the same: only closing it (with what Postgres says it holds) is exact now.
            lock (team.Gate)
            {
                lease.Uncertain = true;
                RetireLocked(team, lease, lost: false);
            }
            throw;
        }
        var giveBack = false;
        lock (team.Gate)
        {
            // Retired meanwhile: a lost or uncertain lease gives it back as it closes, any other at once.
            if (!lease.Lost && !lease.Uncertain)
            {
                if (lease.Retired)
                {
                    giveBack = granted > 0;
                }
                else
                {
                    lease.Free += granted;
                }
            }
        }
        if (giveBack)
        {
            await GiveBackAsync(lease, granted);
        }
        return granted;
    }

    private static void RetireLocked(Team team, Lease lease, bool lost)
    {
        lease.Lost |= lost;
        if (!lease.Retired)
        {
            lease.Retired = true;
            team.Retired.Add(lease);
        }
        if (ReferenceEquals(team.Current, lease))
        {
            team.Current = null;
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var renewEvery = _options.LeaseLifetime / 4;
        var lastRenewal = Stopwatch.GetTimestamp();
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(Math.Min(500, _options.LeaseIdle.TotalMilliseconds / 2)));
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                await CloseQuietAsync(force: false);
                if (Stopwatch.GetElapsedTime(lastRenewal) >= renewEvery)
                {
                    lastRenewal = Stopwatch.GetTimestamp();
                    await RenewAsync(stoppingToken);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Closes every lease once its requests have settled (waiting a few seconds at most for them).</summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        var deadline = Stopwatch.GetTimestamp() + 5 * Stopwatch.Frequency;
        while (await CloseQuietAsync(force: true) > 0 && Stopwatch.GetTimestamp() < deadline && !cancellationToken.IsCancellationRequested)
        {
            await Task.Delay(100, CancellationToken.None);
        }
    }

    /// <summary>
    /// Closes retired leases whose reservations have settled and the leases of quiet teams; returns how many remain open
    /// here. A lease whose closing fails stays retired and is tried again at the next tick.
    /// </summary>
    private async Task<int> CloseQuietAsync(bool force)
    {
        var now = Stopwatch.GetTimestamp();
        var closing = new List<(Team Team, Lease Lease)>();
        var givingBack = new List<(Lease Lease, decimal Amount)>();
        foreach (var team in _teams.Values)
        {
            lock (team.Gate)
            {
                if (team.Current is { } current && !team.Busy && (force || now - team.LastUse >= _idleTicks))
                {
                    RetireLocked(team, current, lost: false);
                    if (current.Outstanding > 0 && current.Free > 0)
                    {
                        // Requests still settle against it (a long stream): the rest goes back to the team now.
                        givingBack.Add((current, current.Free));
                        current.Free = 0;
                    }
                }
                foreach (var lease in team.Retired)
                {
                    if (lease.Outstanding == 0)
                    {
                        closing.Add((team, lease));
                    }
                }
            }
        }
        foreach (var (lease, amount) in givingBack)
        {
            await GiveBackAsync(lease, amount);
        }
        foreach (var (team, lease) in closing)
        {
            try
            {
                // A lost lease is already expired; closing it is then a no-op that confirms it.
                await _store.CloseAsync(lease.TeamId, lease.Id);
            }
            catch (Exception ex)
            {
                _log.LogWarning(ex, "Could not close credit lease {LeaseId}; trying again shortly", lease.Id);
                continue;
            }
            lock (team.Gate)
            {
                team.Retired.Remove(lease);
            }
        }
        var remaining = 0;
        foreach (var team in _teams.Values)
        {
            lock (team.Gate)
            {
                remaining += team.Retired.Count + (team.Current is null ? 0 : 1);
            }
        }
        return remaining;
    }

    private async Task RenewAsync(CancellationToken ct)
    {
        var leases = new List<Lease>();
        foreach (var team in _teams.Values)
        {
            lock (team.Gate)
            {
                if (team.Current is { } current)
                {
                    leases.Add(current);
                }
                leases.AddRange(team.Retired.Where(l => !l.Lost));
            }
        }
        if (leases.Count == 0)
        {
            return;
        }
        try
        {
            var open = await _store.RenewAsync(leases.ConvertAll(l => l.Id), ct);
            foreach (var lease in leases.Where(l => !open.Contains(l.Id)))
            {
                _log.LogWarning("Credit lease {LeaseId} of team {TeamId} is not open (expired by the sweeper, or never opened); requests still placed against it are not charged.", lease.Id, lease.TeamId);
                if (_teams.TryGetValue(lease.TeamId, out var team))
                {
                    lock (team.Gate)
                    {
                        RetireLocked(team, lease, lost: true);
                    }
                }
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            _log.LogWarning(ex, "Could not renew {Count} credit leases; retrying at the next renewal", leases.Count);
        }
    }
}
