-- Each project's digest content for one period, computed once and then
-- mailed to every user of the project whose digest covers that period
-- (users in the same time zone share a period whatever their hour). The
-- row is written under an advisory lock by the first replica that needs
-- it; the others read it.
CREATE TABLE alerting.digest_projects (
    project_id  bigint NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('daily', 'weekly')),
    period_from timestamptz NOT NULL,
    period_to   timestamptz NOT NULL,
    content     jsonb NOT NULL,
    computed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, kind, period_from, period_to)
);
