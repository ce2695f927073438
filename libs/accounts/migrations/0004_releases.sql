-- Releases, as sentry-cli and the dashboard manage them: account-like data
-- the api owns. Commits are stored as sent (no repository integration).
CREATE TABLE api.releases (
    id            bigserial PRIMARY KEY,
    org_id        bigint NOT NULL REFERENCES api.organizations ON DELETE CASCADE,
    version       text NOT NULL,
    ref           text NOT NULL DEFAULT '',
    url           text NOT NULL DEFAULT '',
    date_created  timestamptz NOT NULL DEFAULT now(),
    date_released timestamptz,
    commits       jsonb NOT NULL DEFAULT '[]',
    UNIQUE (org_id, version)
);

CREATE TABLE api.release_projects (
    release_id bigint NOT NULL REFERENCES api.releases ON DELETE CASCADE,
    project_id bigint NOT NULL REFERENCES api.projects ON DELETE CASCADE,
    PRIMARY KEY (release_id, project_id)
);

CREATE TABLE api.deploys (
    id            bigserial PRIMARY KEY,
    release_id    bigint NOT NULL REFERENCES api.releases ON DELETE CASCADE,
    environment   text NOT NULL,
    name          text NOT NULL DEFAULT '',
    url           text NOT NULL DEFAULT '',
    date_started  timestamptz,
    date_finished timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deploys_release ON api.deploys (release_id);
