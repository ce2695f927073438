-- Cron monitors and their check-ins. A monitor is created by a check-in
-- that carries a monitor_config, or by a decision from the API; grouping
-- alone writes these tables. failures and oks count the failed and the
-- good check-ins in a row; incident is set while the monitor's failure
-- issue is open. next_due is when the next check-in is expected (without
-- the margin).
CREATE TABLE grouping.monitors (
    id bigserial PRIMARY KEY,
    project_id bigint NOT NULL,
    slug text NOT NULL,
    name text NOT NULL,
    status text NOT NULL DEFAULT 'active',
    config jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    last_checkin_at timestamptz,
    last_status text NOT NULL DEFAULT '',
    next_due timestamptz,
    failures integer NOT NULL DEFAULT 0,
    oks integer NOT NULL DEFAULT 0,
    incident boolean NOT NULL DEFAULT false,
    incidents integer NOT NULL DEFAULT 0,
    UNIQUE (project_id, slug)
);
CREATE INDEX monitors_due ON grouping.monitors (next_due) WHERE status = 'active';

-- A check-in. missed and timeout ones are written by grouping's ticker;
-- timeout_at is when an in_progress check-in times out.
CREATE TABLE grouping.monitor_checkins (
    id bigserial PRIMARY KEY,
    monitor_id bigint NOT NULL REFERENCES grouping.monitors (id) ON DELETE CASCADE,
    project_id bigint NOT NULL,
    checkin_id text NOT NULL,
    status text NOT NULL,
    environment text NOT NULL DEFAULT '',
    duration_ms bigint,
    received timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    timeout_at timestamptz,
    UNIQUE (monitor_id, checkin_id)
);
CREATE INDEX monitor_checkins_recent ON grouping.monitor_checkins (monitor_id, received DESC);
CREATE INDEX monitor_checkins_timeouts ON grouping.monitor_checkins (timeout_at) WHERE status = 'in_progress';
