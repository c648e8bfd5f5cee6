-- Credit leases. An API instance serving a busy team reserves a slice of the team's available credits as one open
-- hold (lease = true, request_id names the instance) and places its requests' holds against that slice in memory.
-- Each capture charges the lease in the same statement that writes the ledger entry and the receipt: the lease's amount
-- and the team's held and credits all fall by the charge. The instance renews its leases while it runs and closes
-- them when the team goes quiet; the hold sweeper expires a lease that stopped being renewed (a crashed instance).
-- held = sum(open holds) still holds, leases included, so available credits stay >= 0 by the same CHECK.
ALTER TABLE credit_holds ADD COLUMN lease boolean NOT NULL DEFAULT false;

-- A charge spent from a lease names it here (hold_id stays null: a lease pays for many charges, a hold for one).
ALTER TABLE ledger_entries ADD COLUMN lease_id text;
