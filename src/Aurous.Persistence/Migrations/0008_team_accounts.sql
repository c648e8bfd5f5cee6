-- Teams as the dashboard manages them: members with roles, one-time invitations, key rotation and last use, the
-- management scopes, and who granted credits. Dashboard accounts themselves (ASP.NET Core Identity) are in 0009.

-- Management scopes: 'management:read' reads keys, webhook endpoints and their delivery logs; 'management:write' also
-- creates, rotates and revokes keys and manages webhook endpoints. Until now any key of a team managed its webhook
-- endpoints, so every existing key keeps that (both scopes). New keys get what their creator picks.
UPDATE api_keys SET scopes = scopes || ARRAY['management:read', 'management:write']
WHERE NOT 'management:write' = ANY(scopes);

-- Rotation: the old key is 'rotated' with a grace period and points at the key that replaced it.
ALTER TABLE api_keys
    ADD COLUMN created_by  text,                              -- usr_/Identity user id or key_ id that made it; null for seeds
    ADD COLUMN rotated_at  timestamptz,
    ADD COLUMN replaced_by text REFERENCES api_keys(id);

-- When a key last authenticated, written in batches by the API instances. It is its own table so that these frequent
-- writes never touch api_keys (whose changes invalidate every instance's key cache) or contend with key management.
CREATE TABLE api_key_usage (
    key_id        text PRIMARY KEY REFERENCES api_keys(id),
    last_used_at  timestamptz NOT NULL
);

-- Members of a team and their role. Owners and admins manage keys, webhooks, invitations and settings; members read.
CREATE TABLE team_members (
    team_id     text NOT NULL REFERENCES teams(id),
    user_id     text NOT NULL,                               -- identity user id (foreign key added with the accounts table)
    role        text NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user ON team_members (user_id);

-- A one-time invitation link: only the SHA-256 of its token is kept. Accepting it makes the signed-in user a member.
CREATE TABLE team_invitations (
    id           text PRIMARY KEY,                           -- inv_<ULID>
    team_id      text NOT NULL REFERENCES teams(id),
    role         text NOT NULL CHECK (role IN ('admin', 'member')),
    email        text,                                       -- a note of whom it was meant for; not enforced
    token_hash   bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    accepted_by  text,
    accepted_at  timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX team_invitations_team ON team_invitations (team_id, created_at);

-- Who added credits (an operator's user id for a grant), next to the reason already kept in description.
ALTER TABLE ledger_entries ADD COLUMN created_by text;
