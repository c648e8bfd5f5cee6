-- Chat completions as returned to the client, so GET /v1/chat/completions/{id} can return them to the team that made them.
CREATE TABLE chat_completions (
    id          text PRIMARY KEY,                      -- cmp_<ULID>
    team_id     text NOT NULL REFERENCES teams(id),
    request_id  text NOT NULL,
    model       text NOT NULL,
    body        jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX chat_completions_team ON chat_completions (team_id, created_at);
