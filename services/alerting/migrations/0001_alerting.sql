-- The alerting role's schema: issue-alert rules, the webhooks plugin, the
-- counts rules read, and notifications with their delivery attempts. Only
-- the alerting role writes it; the api reads it (libs/alertstore).
CREATE SCHEMA IF NOT EXISTS alerting;

-- Rules in Sentry's JSON (alertrules.Spec).
CREATE TABLE alerting.rules (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id bigint NOT NULL,
    spec       jsonb NOT NULL,
    created_by bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON alerting.rules (project_id, id);

-- Bumped by every change of rules, so replicas reload them.
CREATE TABLE alerting.rules_version (one boolean PRIMARY KEY DEFAULT true CHECK (one), v bigint NOT NULL);
INSERT INTO alerting.rules_version VALUES (true, 0);

-- Commands applied, with their answer, so a redelivered command is applied once.
CREATE TABLE alerting.commands (
    id         text PRIMARY KEY,
    answer     jsonb NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- Legacy plugins' settings per project ("webhooks": {"urls": "..."}).
CREATE TABLE alerting.plugins (
    project_id bigint NOT NULL,
    plugin     text NOT NULL,
    config     jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, plugin)
);

-- Per-project secret that signs webhook bodies (Sentry-Hook-Signature).
CREATE TABLE alerting.secrets (
    project_id bigint PRIMARY KEY,
    secret     text NOT NULL
);

-- Events counted, so a redelivered one is counted once; the compact event
-- lets an issue change that arrives after its event be evaluated with it.
CREATE TABLE alerting.seen_events (
    event_id uuid PRIMARY KEY,
    issue_id bigint NOT NULL,
    received timestamptz NOT NULL,
    event    jsonb NOT NULL
);
CREATE INDEX ON alerting.seen_events (received);

-- Issue changes (created, regressed, unignored) waiting for their event,
-- or already evaluated with it.
CREATE TABLE alerting.triggers (
    event_id uuid NOT NULL,
    change   text NOT NULL,
    issue_id bigint NOT NULL,
    at       timestamptz NOT NULL,
    PRIMARY KEY (event_id, change)
);
CREATE INDEX ON alerting.triggers (at);

-- What rules read of issues.
CREATE TABLE alerting.issues (
    issue_id   bigint PRIMARY KEY,
    project_id bigint NOT NULL,
    first_seen timestamptz NOT NULL,
    times_seen bigint NOT NULL DEFAULT 0,
    assignee   text NOT NULL DEFAULT ''
);

-- Events per minute of an issue (issue_id > 0) or a project (issue_id 0,
-- keyed by project_id), and users per minute of an issue.
CREATE TABLE alerting.counts (
    project_id bigint NOT NULL,
    issue_id   bigint NOT NULL,
    minute     timestamptz NOT NULL,
    n          bigint NOT NULL,
    PRIMARY KEY (issue_id, project_id, minute)
);
CREATE INDEX ON alerting.counts (minute);
CREATE TABLE alerting.users (
    issue_id bigint NOT NULL,
    minute   timestamptz NOT NULL,
    user_key text NOT NULL,
    PRIMARY KEY (issue_id, minute, user_key)
);
CREATE INDEX ON alerting.users (minute);

-- Releases by when they were first seen, for the latest-release filter.
CREATE TABLE alerting.releases (
    project_id bigint NOT NULL,
    release    text NOT NULL,
    first_seen timestamptz NOT NULL,
    PRIMARY KEY (project_id, release)
);

-- When a rule last fired for an issue: frequency throttles on it.
CREATE TABLE alerting.fires (
    rule_id  bigint NOT NULL,
    issue_id bigint NOT NULL,
    fired_at timestamptz NOT NULL,
    PRIMARY KEY (rule_id, issue_id)
);

-- One row per trigger per rule: the exactly-once key.
CREATE TABLE alerting.notifications (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rule_id    bigint NOT NULL,
    issue_id   bigint NOT NULL,
    trigger_id text NOT NULL,
    project_id bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (rule_id, issue_id, trigger_id)
);

-- The delivery queue: one row per destination of a notification.
CREATE TABLE alerting.deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    notification_id bigint NOT NULL REFERENCES alerting.notifications (id) ON DELETE CASCADE,
    project_id      bigint NOT NULL,
    rule_id         bigint NOT NULL,
    issue_id        bigint NOT NULL,
    channel         text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('http', 'mail')),
    target          text NOT NULL,
    body            jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        int NOT NULL DEFAULT 0,
    next_at         timestamptz NOT NULL DEFAULT now(),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON alerting.deliveries (next_at) WHERE status = 'pending';

-- Every attempt, for the API and the dashboard.
CREATE TABLE alerting.attempts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id bigint NOT NULL REFERENCES alerting.deliveries (id) ON DELETE CASCADE,
    project_id  bigint NOT NULL,
    rule_id     bigint NOT NULL,
    issue_id    bigint NOT NULL,
    channel     text NOT NULL,
    target      text NOT NULL,
    status      text NOT NULL CHECK (status IN ('sent', 'retrying', 'failed')),
    error       text NOT NULL DEFAULT '',
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON alerting.attempts (project_id, id DESC);
