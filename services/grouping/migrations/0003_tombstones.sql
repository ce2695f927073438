-- Users' deletions of issues, kept by the deleted issue's hashes (like
-- merges, since a replay gives issues new ids). A replay drops the events
-- received before the deletion whose primary hash is one of these; events
-- received after it start a new issue, as they did live. Like merges, these
-- rows are the users' and carry over to every new generation.
CREATE TABLE grouping.tombstones (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id bigint NOT NULL,
    issue_id   bigint NOT NULL,  -- the deleted issue's id, for operators
    hashes     text[] NOT NULL,  -- every hash of the deleted issue
    deleted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tombstones_project ON grouping.tombstones (project_id, id);
