-- Metering: a running balance per team (kept in step with the ledger in the same transactions), holds with expiry,
-- receipts for every charge, idempotency records, and per-team rate limits.

ALTER TABLE teams
    ADD COLUMN rpm_limit integer CHECK (rpm_limit > 0),      -- null: the platform default
    ADD COLUMN tpm_limit integer CHECK (tpm_limit > 0);

-- credits = sum(ledger_entries.amount); held = sum(open holds). The CHECK is the last line of defence: no statement
-- can leave a team's available credits below zero, whatever the concurrency.
CREATE TABLE team_balances (
    team_id   text PRIMARY KEY REFERENCES teams(id),
    credits   numeric(24, 12) NOT NULL DEFAULT 0,
    held      numeric(24, 12) NOT NULL DEFAULT 0 CHECK (held >= 0),
    CHECK (credits - held >= 0)
);
INSERT INTO team_balances (team_id, credits, held)
SELECT t.id,
       COALESCE((SELECT sum(amount) FROM ledger_entries l WHERE l.team_id = t.id), 0),
       COALESCE((SELECT sum(amount) FROM credit_holds h WHERE h.team_id = t.id AND h.state = 'held'), 0)
FROM teams t;

ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_amount_check;
ALTER TABLE ledger_entries
    ADD COLUMN hold_id text,
    ADD CONSTRAINT ledger_entries_sign CHECK (
        (kind IN ('grant', 'purchase', 'refund') AND amount > 0) OR (kind = 'charge' AND amount <= 0) OR kind = 'adjustment');
CREATE UNIQUE INDEX ledger_entries_one_charge_per_hold ON ledger_entries (hold_id) WHERE hold_id IS NOT NULL;

ALTER TABLE credit_holds
    ADD COLUMN captured_amount numeric(24, 12),
    ADD COLUMN endpoint text NOT NULL DEFAULT '',
    ADD COLUMN model text NOT NULL DEFAULT '';

-- One receipt per charge: what was used, at which rates, for how much. sum(receipts.amount) = -sum(charges).
CREATE TABLE usage_receipts (
    id               text PRIMARY KEY,                     -- rcpt_<ULID>
    team_id          text NOT NULL REFERENCES teams(id),
    ledger_entry_id  bigint NOT NULL UNIQUE REFERENCES ledger_entries(id),
    request_id       text NOT NULL,
    api_key_id       text NOT NULL,
    endpoint         text NOT NULL,
    model            text NOT NULL,
    tokens           jsonb NOT NULL,                       -- {"input":{"text":n,"visual":n,"video":n},"output":{"text":n}}
    rates            jsonb NOT NULL,                       -- credits per 1M tokens, as applied
    breakdown        jsonb NOT NULL,                       -- credits per modality
    amount           numeric(24, 12) NOT NULL CHECK (amount >= 0),
    end_user         text,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX usage_receipts_team ON usage_receipts (team_id, created_at);

-- Stripe-style idempotency: one row per (team, key) for 24 h. 'running' rows carry a lease so a crashed request's key
-- can be retried; only successful responses are kept, byte for byte.
CREATE TABLE idempotency_records (
    team_id        text NOT NULL REFERENCES teams(id),
    key            text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    fingerprint    bytea NOT NULL,
    state          text NOT NULL CHECK (state IN ('running', 'completed')),
    request_id     text NOT NULL,
    lease_until    timestamptz NOT NULL,
    status_code    integer,
    content_type   text,
    response_body  bytea,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    PRIMARY KEY (team_id, key)
);
CREATE INDEX idempotency_records_expiry ON idempotency_records (expires_at);
