-- An organisation's code repositories, by name and URL, as sentry-cli
-- releases set-commits names them (no code-host integration).
CREATE TABLE api.repositories (
    id           bigserial PRIMARY KEY,
    org_id       bigint NOT NULL REFERENCES api.organizations ON DELETE CASCADE,
    name         text NOT NULL CHECK (name <> '' AND length(name) <= 200),
    url          text NOT NULL DEFAULT '',
    provider     text NOT NULL DEFAULT 'integrations:custom',
    date_created timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, name)
);
