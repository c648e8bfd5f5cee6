-- Webhooks (Standard Webhooks). Times are written by the services from their clock (TimeProvider), never by now(),
-- so retries, grace windows and the disabling rule can be tested by moving the clock.

-- A team's receiver. The signing secret is kept (it must be: every delivery is signed with it) and shown to the team
-- once, at creation or rotation. During a rotation's grace the previous secret signs too.
CREATE TABLE webhook_endpoints (
    id                        text PRIMARY KEY,                 -- we_<ULID>
    team_id                   text NOT NULL REFERENCES teams(id),
    url                       text NOT NULL,
    description               text,
    events                    text[] NOT NULL,
    secret                    text NOT NULL,                    -- whsec_<base64>
    previous_secret           text,
    previous_secret_until     timestamptz,
    status                    text NOT NULL CHECK (status IN ('enabled', 'disabled')),
    disabled_reason           text,
    disabled_at               timestamptz,
    consecutive_failures      integer NOT NULL DEFAULT 0,
    failing_since             timestamptz,                      -- first failed attempt since the last success
    created_at                timestamptz NOT NULL,
    deleted_at                timestamptz
);
CREATE INDEX webhook_endpoints_team ON webhook_endpoints (team_id, id) WHERE deleted_at IS NULL;

-- One event per (team, subject, type): a job that publishes its terminal status twice is delivered once, with one id.
-- body is the exact JSON sent (signed bytes are identical on every attempt).
CREATE TABLE webhook_events (
    id            text PRIMARY KEY,                             -- msg_<ULID>: the webhook-id header
    team_id       text NOT NULL REFERENCES teams(id),
    type          text NOT NULL,
    subject_id    text NOT NULL,
    body          text NOT NULL,
    trace_parent  text,                                         -- W3C traceparent of the publisher: deliveries continue its trace
    trace_state   text,
    created_at    timestamptz NOT NULL,
    UNIQUE (team_id, subject_id, type)
);

-- One delivery per (event, endpoint). attempts counts the attempts made; a Hangfire job carries each attempt.
CREATE TABLE webhook_deliveries (
    id               text PRIMARY KEY,                          -- whd_<ULID>
    event_id         text NOT NULL REFERENCES webhook_events(id),
    endpoint_id      text NOT NULL REFERENCES webhook_endpoints(id),
    status           text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'cancelled')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz,
    enqueued_at      timestamptz,                               -- when its first attempt was handed to Hangfire
    delivered_at     timestamptz,
    ended_reason     text,                                      -- why a failed or cancelled delivery stopped
    created_at       timestamptz NOT NULL,
    UNIQUE (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_unqueued ON webhook_deliveries (created_at) WHERE enqueued_at IS NULL AND status = 'pending';

-- The delivery log: one row per attempt.
CREATE TABLE webhook_attempts (
    delivery_id    text NOT NULL REFERENCES webhook_deliveries(id),
    attempt        integer NOT NULL CHECK (attempt >= 1),
    endpoint_id    text NOT NULL REFERENCES webhook_endpoints(id),
    started_at     timestamptz NOT NULL,
    status_code    integer,                                     -- null: no HTTP answer (refused, timeout, SSRF refusal)
    latency_ms     double precision NOT NULL,
    error          text,
    succeeded      boolean NOT NULL,
    next_retry_at  timestamptz,
    PRIMARY KEY (delivery_id, attempt)
);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, started_at DESC);
