-- Teams, API keys, and the prepaid credit ledger. Amounts are exact decimals (credits), never floating point.

CREATE TABLE teams (
    id           text        PRIMARY KEY,                 -- team_<ULID>
    name         text        NOT NULL,
    api_version  text        NOT NULL DEFAULT '2026-05-15' CHECK (api_version ~ '^\d{4}-\d{2}-\d{2}$'),
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- Only the SHA-256 of a key is stored; the plaintext is shown once at creation.
CREATE TABLE api_keys (
    id           text        PRIMARY KEY,                 -- key_<ULID>
    team_id      text        NOT NULL REFERENCES teams(id),
    name         text        NOT NULL,
    key_hash     bytea       NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    key_hint     text        NOT NULL,                    -- al_live_ab12…9f3e, for display
    scopes       text[]      NOT NULL DEFAULT ARRAY['chat', 'embeddings', 'images'],
    state        text        NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'rotated', 'revoked')),
    grace_until  timestamptz,                             -- a rotated key is accepted until then
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz,
    CHECK (state <> 'rotated' OR grace_until IS NOT NULL)
);
CREATE INDEX api_keys_team ON api_keys (team_id);

-- Balance = sum(amount). Positive entries add credits (grants, purchases), negative ones are captured charges.
CREATE TABLE ledger_entries (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    team_id      text        NOT NULL REFERENCES teams(id),
    kind         text        NOT NULL CHECK (kind IN ('grant', 'purchase', 'charge', 'refund', 'adjustment')),
    amount       numeric(24, 12) NOT NULL CHECK (amount <> 0),
    request_id   text,
    description  text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_entries_team ON ledger_entries (team_id, created_at);

-- A hold reserves credits for a request in flight; available = balance - sum(held).
CREATE TABLE credit_holds (
    id           text        PRIMARY KEY,                 -- hold_<ULID>
    team_id      text        NOT NULL REFERENCES teams(id),
    request_id   text        NOT NULL,
    amount       numeric(24, 12) NOT NULL CHECK (amount >= 0),
    state        text        NOT NULL DEFAULT 'held' CHECK (state IN ('held', 'captured', 'released', 'expired')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    settled_at   timestamptz
);
CREATE INDEX credit_holds_open ON credit_holds (team_id) WHERE state = 'held';
