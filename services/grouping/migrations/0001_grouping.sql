-- Issues, their hashes, events and tag counts: the grouping service's
-- projection of the INGEST stream. Owned by the grouping service; others read.
CREATE SCHEMA IF NOT EXISTS grouping;

-- An issue is a group of events that share a grouping hash. Counters are
-- aggregates that do not depend on the order events arrive in: sums, minima,
-- maxima, and a HyperLogLog of user keys (users_hll, merged register-wise).
CREATE TABLE grouping.issues (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id          bigint NOT NULL,
    primary_hash        text NOT NULL,
    grouping_config     text NOT NULL,
    type                text NOT NULL,            -- error, default, csp, hpkp, expectct, ...
    title               text NOT NULL,
    culprit             text NOT NULL DEFAULT '',
    level               text NOT NULL DEFAULT 'error',
    platform            text NOT NULL DEFAULT '',
    first_seen          timestamptz NOT NULL,
    last_seen           timestamptz NOT NULL,
    last_event_id       uuid NOT NULL,            -- the latest event by (timestamp, event_id): title and culprit come from it
    times_seen          bigint NOT NULL,
    users_hll           bytea NOT NULL,
    users_seen          bigint NOT NULL DEFAULT 0, -- estimate from users_hll
    first_release       text NOT NULL DEFAULT '',
    last_release        text NOT NULL DEFAULT '',
    environments        text[] NOT NULL DEFAULT '{}',
    status              text NOT NULL DEFAULT 'unresolved'
                        CHECK (status IN ('unresolved', 'resolved', 'resolved_in_next_release', 'ignored')),
    substatus           text NOT NULL DEFAULT 'new'
                        CHECK (substatus IN ('new', 'ongoing', 'regressed', 'unignored', '')),
    status_changed_at   timestamptz NOT NULL DEFAULT now(),
    resolved_in_release text NOT NULL DEFAULT '', -- for resolved_in_next_release: the release current when resolved
    ignore_until        timestamptz,              -- ignored until this time
    ignore_until_count  bigint,                   -- ignored until this many more events
    ignore_until_users  bigint,                   -- ignored until this many more users
    ignore_base_count   bigint NOT NULL DEFAULT 0,
    ignore_base_users   bigint NOT NULL DEFAULT 0,
    assignee            text NOT NULL DEFAULT '', -- a user or team reference, set by the api service
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX issues_project_last_seen ON grouping.issues (project_id, last_seen DESC);
CREATE INDEX issues_project_status ON grouping.issues (project_id, status, last_seen DESC);

-- Every hash an issue has been seen with. A hash belongs to one issue per
-- project: the unique key is what keeps concurrent replicas from creating
-- two issues for it.
CREATE TABLE grouping.issue_hashes (
    project_id      bigint NOT NULL,
    hash            text NOT NULL,
    issue_id        bigint NOT NULL REFERENCES grouping.issues (id) ON DELETE CASCADE,
    grouping_config text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, hash)
);
CREATE INDEX issue_hashes_issue ON grouping.issue_hashes (issue_id);

-- Tag values per issue, with counts, for facets.
CREATE TABLE grouping.issue_tags (
    issue_id   bigint NOT NULL REFERENCES grouping.issues (id) ON DELETE CASCADE,
    key        text NOT NULL,
    value      text NOT NULL,
    times_seen bigint NOT NULL,
    first_seen timestamptz NOT NULL,
    last_seen  timestamptz NOT NULL,
    PRIMARY KEY (issue_id, key, value)
);

-- Events, partitioned by the day the gateway received them; retention drops
-- whole partitions. data is the normalized event as zstd-compressed JSON.
CREATE TABLE grouping.events (
    project_id  bigint NOT NULL,
    issue_id    bigint NOT NULL,
    event_id    uuid NOT NULL,
    received    timestamptz NOT NULL,
    ts          timestamptz NOT NULL,
    type        text NOT NULL,
    level       text NOT NULL,
    title       text NOT NULL,
    release     text NOT NULL DEFAULT '',
    environment text NOT NULL DEFAULT '',
    user_key    text NOT NULL DEFAULT '',
    trace_id    text NOT NULL DEFAULT '',
    hashes      text[] NOT NULL,
    data        bytea NOT NULL
) PARTITION BY RANGE (received);
CREATE INDEX events_issue_ts ON grouping.events (issue_id, ts DESC);
CREATE INDEX events_event_id ON grouping.events (project_id, event_id);

-- The event ids already stored, partitioned like events: inserting here
-- first, ON CONFLICT DO NOTHING, is what makes a redelivered envelope change
-- nothing. received comes from the INGEST message's header, so a redelivery
-- has the same key.
CREATE TABLE grouping.event_ids (
    project_id bigint NOT NULL,
    event_id   uuid NOT NULL,
    received   timestamptz NOT NULL,
    PRIMARY KEY (project_id, event_id, received)
) PARTITION BY RANGE (received);

-- Messages the service gave up on (bad payloads), for operators.
CREATE TABLE grouping.rejected (
    stream_seq bigint PRIMARY KEY,
    subject    text NOT NULL,
    project_id bigint,
    event_id   text NOT NULL DEFAULT '',
    reason     text NOT NULL,
    rejected_at timestamptz NOT NULL DEFAULT now()
);

-- Publications decided in a committed transaction and not yet acknowledged
-- by the EVENTS stream, one row per batch. The service deletes the row once
-- everything is published; rows left by a crash or a failed publish are
-- published again by the sweeper (Nats-Msg-Id makes that harmless).
-- Issue changes are kept whole (subjects, msg_ids, payloads); grouped events
-- by reference (issue_ids, ts, event_ids, received find their grouping.events
-- rows, from which the body is rebuilt).
CREATE TABLE grouping.outbox (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subjects   text[] NOT NULL,
    msg_ids    text[] NOT NULL,
    payloads   bytea[] NOT NULL,
    issue_ids  bigint[] NOT NULL,
    ts         timestamptz[] NOT NULL,
    event_ids  uuid[] NOT NULL,
    received   timestamptz[] NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Per-project grouping rules in Sentry's syntax: stack-trace rules
-- ("stack.module:foo.* -app") and server-side fingerprint rules
-- ("error.type:Timeout -> timeouts").
CREATE TABLE grouping.project_rules (
    project_id        bigint PRIMARY KEY,
    stack_rules       text NOT NULL DEFAULT '',
    fingerprint_rules text NOT NULL DEFAULT '',
    updated_at        timestamptz NOT NULL DEFAULT now()
);
