-- A project's ownership rules in Sentry's syntax (libs/ownership), with
-- Sentry's settings beside them. No row: no rules, Sentry's defaults.
CREATE TABLE api.project_ownership (
    project_id           bigint PRIMARY KEY REFERENCES api.projects (id) ON DELETE CASCADE,
    raw                  text,
    fallthrough          boolean NOT NULL DEFAULT true,
    auto_assignment      text NOT NULL DEFAULT 'Auto Assign to Issue Owner',
    codeowners_auto_sync boolean NOT NULL DEFAULT true,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
