-- Image and video jobs. A job's credit hold lives as long as the job (not the request that created it): it carries the
-- job's id, the stale-hold sweep leaves it alone, and the job's terminal transition captures or releases it.
ALTER TABLE credit_holds ADD COLUMN job_id text;
CREATE UNIQUE INDEX credit_holds_one_per_job ON credit_holds (job_id) WHERE job_id IS NOT NULL;

-- Times are written by the services from their clock (TimeProvider), never by now(), so expiry can be tested.
CREATE TABLE generation_jobs (
    id                text PRIMARY KEY,                    -- img_<ULID> | vid_<ULID>
    team_id           text NOT NULL REFERENCES teams(id),
    api_key_id        text NOT NULL,
    request_id        text NOT NULL,                       -- the create request: the job's charge is booked under it
    kind              text NOT NULL CHECK (kind IN ('image', 'video')),
    model             text NOT NULL,
    spec              jsonb NOT NULL,                      -- the validated request (GenerationSpec), seed included
    lora_id           text,                                -- as asked, or as the dispatcher chose
    lora_source       text CHECK (lora_source IN ('request', 'dispatcher')),
    status            text NOT NULL CHECK (status IN ('pending', 'processing', 'succeeded', 'failed', 'cancelled', 'expired', 'moderation_rejected')),
    hold_id           text NOT NULL,
    estimate          numeric(24, 12) NOT NULL CHECK (estimate >= 0),  -- the hold, and the charge on success
    tokens            jsonb NOT NULL,                      -- billed tokens, as a receipt records them
    rates             jsonb NOT NULL,                      -- credits per 1M tokens, as applied
    breakdown         jsonb NOT NULL,                      -- credits per modality
    credits_charged   numeric(24, 12),                     -- set on success
    receipt_id        text,
    error_code        text,
    error_message     text,
    cancel_requested  boolean NOT NULL DEFAULT false,
    attempts          integer NOT NULL DEFAULT 0,
    trace_parent      text,                                -- W3C traceparent of the create request: one trace per job
    created_at        timestamptz NOT NULL,
    started_at        timestamptz,
    completed_at      timestamptz,
    expires_at        timestamptz,                         -- when the outputs expire (set on success)
    queue_deadline    timestamptz NOT NULL                 -- a job not started by then ends 'expired'
);
CREATE INDEX generation_jobs_team ON generation_jobs (team_id, kind, id DESC);
CREATE INDEX generation_jobs_open ON generation_jobs (queue_deadline) WHERE status IN ('pending', 'processing');

-- One row per output file. The token (256 random bits, base64url) is the unguessable part of the public URL
-- /v1/outputs/{token}; a retried run keeps the first token of each (job, index), so a job has one output set.
CREATE TABLE generation_outputs (
    token         text PRIMARY KEY,
    job_id        text NOT NULL REFERENCES generation_jobs(id),
    index         integer NOT NULL CHECK (index >= 0),
    blob_name     text NOT NULL,
    content_type  text NOT NULL,
    bytes         bigint NOT NULL CHECK (bytes >= 0),
    width         integer,
    height        integer,
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    deleted_at    timestamptz,                             -- the blob was deleted after expiry
    UNIQUE (job_id, index)
);
CREATE INDEX generation_outputs_expiry ON generation_outputs (expires_at) WHERE deleted_at IS NULL;

-- Videos have their own scope. A key that may generate images may generate videos too, so every existing key keeps
-- working; a new key gets all four scopes unless it asks for fewer.
ALTER TABLE api_keys ALTER COLUMN scopes SET DEFAULT ARRAY['chat', 'embeddings', 'images', 'videos'];
UPDATE api_keys SET scopes = array_append(scopes, 'videos') WHERE 'images' = ANY(scopes) AND NOT 'videos' = ANY(scopes);
