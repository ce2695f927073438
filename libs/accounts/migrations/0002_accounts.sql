-- Users, sessions, memberships and invitations, teams, API tokens and
-- password resets. Owned by the api service. Secrets (session tokens, API tokens,
-- invitation and reset tokens) are stored only as SHA-256 hashes.

CREATE TABLE api.users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         text NOT NULL CHECK (email = lower(email) AND email LIKE '%_@_%'),
    name          text NOT NULL DEFAULT '',
    password_hash text NOT NULL DEFAULT '',          -- '' means no password: sign-in impossible
    is_superuser  boolean NOT NULL DEFAULT false,
    is_active     boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz
);
CREATE UNIQUE INDEX users_email ON api.users (email);

CREATE TABLE api.sessions (
    token_hash   bytea PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES api.users (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    user_agent   text NOT NULL DEFAULT '',
    ip           text NOT NULL DEFAULT ''
);
CREATE INDEX ON api.sessions (user_id);
CREATE INDEX ON api.sessions (expires_at);

-- A member is a user's role in an organisation, or a pending invitation
-- (user_id NULL) sent to email with a token.
CREATE TABLE api.members (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id  bigint NOT NULL REFERENCES api.organizations (id) ON DELETE CASCADE,
    user_id          bigint REFERENCES api.users (id) ON DELETE CASCADE,
    email            text NOT NULL DEFAULT '' CHECK (email = lower(email)),
    role             text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    token_hash       bytea UNIQUE,
    token_expires_at timestamptz,
    invited_by       bigint REFERENCES api.users (id) ON DELETE SET NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, user_id),
    CHECK (user_id IS NOT NULL OR (email <> '' AND token_hash IS NOT NULL))
);
CREATE UNIQUE INDEX members_pending_email ON api.members (organization_id, email) WHERE user_id IS NULL;
CREATE INDEX ON api.members (user_id);

CREATE TABLE api.teams (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id bigint NOT NULL REFERENCES api.organizations (id) ON DELETE CASCADE,
    slug            text NOT NULL CHECK (slug ~ '^[a-z0-9][a-z0-9_-]{0,49}$'),
    name            text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, slug)
);

CREATE TABLE api.team_members (
    team_id   bigint NOT NULL REFERENCES api.teams (id) ON DELETE CASCADE,
    member_id bigint NOT NULL REFERENCES api.members (id) ON DELETE CASCADE,
    PRIMARY KEY (team_id, member_id)
);
CREATE INDEX ON api.team_members (member_id);

CREATE TABLE api.project_teams (
    project_id bigint NOT NULL REFERENCES api.projects (id) ON DELETE CASCADE,
    team_id    bigint NOT NULL REFERENCES api.teams (id) ON DELETE CASCADE,
    PRIMARY KEY (project_id, team_id)
);
CREATE INDEX ON api.project_teams (team_id);

-- An API token acts for its user, capped by its scopes (read < write < admin)
-- and, when set, restricted to one organisation or one project.
CREATE TABLE api.api_tokens (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES api.users (id) ON DELETE CASCADE,
    token_hash      bytea NOT NULL UNIQUE,
    last_chars      text NOT NULL,
    name            text NOT NULL DEFAULT '',
    scopes          text[] NOT NULL CHECK (scopes <@ ARRAY['read', 'write', 'admin'] AND cardinality(scopes) > 0),
    organization_id bigint REFERENCES api.organizations (id) ON DELETE CASCADE,
    project_id      bigint REFERENCES api.projects (id) ON DELETE CASCADE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz,
    last_used_at    timestamptz,
    revoked_at      timestamptz,
    CHECK (project_id IS NULL OR organization_id IS NOT NULL)
);
CREATE INDEX ON api.api_tokens (user_id);

CREATE TABLE api.password_resets (
    token_hash bytea PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES api.users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);

-- A rotated key changes its public key: announce the old one too, so the
-- gateway's bucket drops it at once instead of at the next reconcile.
CREATE OR REPLACE FUNCTION api.notify_key_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.public_key <> NEW.public_key THEN
        PERFORM pg_notify('faultline_keys', OLD.public_key);
    END IF;
    PERFORM pg_notify('faultline_keys', COALESCE(NEW.public_key, OLD.public_key));
    RETURN NULL;
END $$;
