-- A request in flight renews its hold (renewed_at); the sweeper expires only holds not renewed within their lifetime.
ALTER TABLE credit_holds ADD COLUMN renewed_at timestamptz;

-- One charge per request, whatever the code does: a second capture of the same request cannot write a second entry.
CREATE UNIQUE INDEX ledger_entries_one_charge_per_request ON ledger_entries (team_id, request_id) WHERE kind = 'charge';
