-- Decisions applied from the DECISIONS stream, by id: a redelivered
-- decision is applied once. refused says why one could not be applied.
CREATE TABLE grouping.decisions (
    id         text PRIMARY KEY,
    project_id bigint NOT NULL,
    kind       text NOT NULL,
    actor      jsonb NOT NULL DEFAULT '{}',
    decided_at timestamptz NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    refused    text NOT NULL DEFAULT ''
);
CREATE INDEX decisions_project ON grouping.decisions (project_id, decided_at);

ALTER TABLE grouping.issues DROP CONSTRAINT issues_status_check;
ALTER TABLE grouping.issues ADD CONSTRAINT issues_status_check
    CHECK (status IN ('unresolved', 'resolved', 'resolved_in_next_release', 'resolved_in_release', 'ignored'));
