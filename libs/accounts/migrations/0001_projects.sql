-- Organisations, projects and their DSN keys. Owned by the api service.
CREATE SCHEMA IF NOT EXISTS api;

CREATE TABLE api.organizations (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug       text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9_-]{0,49}$'),
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api.projects (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id bigint NOT NULL REFERENCES api.organizations (id) ON DELETE CASCADE,
    slug            text NOT NULL CHECK (slug ~ '^[a-z0-9][a-z0-9_-]{0,49}$'),
    name            text NOT NULL,
    platform        text NOT NULL DEFAULT '',
    allowed_origins text[] NOT NULL DEFAULT '{*}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, slug)
);

CREATE TABLE api.project_keys (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id            bigint NOT NULL REFERENCES api.projects (id) ON DELETE CASCADE,
    public_key            text NOT NULL UNIQUE CHECK (public_key ~ '^[0-9a-f]{32}$'),
    label                 text NOT NULL DEFAULT 'Default',
    disabled              boolean NOT NULL DEFAULT false,
    rate_limit_per_minute bigint NOT NULL DEFAULT 0 CHECK (rate_limit_per_minute >= 0),
    rate_limit_per_hour   bigint NOT NULL DEFAULT 0 CHECK (rate_limit_per_hour >= 0),
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON api.project_keys (project_id);

-- Key changes are announced so the running api service pushes them to the
-- gateway's KV bucket at once, whichever process made them.
CREATE FUNCTION api.notify_key_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('faultline_keys', COALESCE(NEW.public_key, OLD.public_key));
    RETURN NULL;
END $$;

CREATE TRIGGER project_keys_notify AFTER INSERT OR UPDATE OR DELETE ON api.project_keys
    FOR EACH ROW EXECUTE FUNCTION api.notify_key_change();

CREATE FUNCTION api.notify_project_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('faultline_keys', k.public_key) FROM api.project_keys k WHERE k.project_id = NEW.id;
    RETURN NULL;
END $$;

CREATE TRIGGER projects_notify AFTER UPDATE OF allowed_origins ON api.projects
    FOR EACH ROW EXECUTE FUNCTION api.notify_project_change();
