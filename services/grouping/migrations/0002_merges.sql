-- Users' merges of issues, kept by hashes rather than issue ids, so that a
-- replay (which gives issues new ids) can merge again the issues that own
-- these hashes. Like project_rules, these rows are the users' and carry over
-- to every new generation.
CREATE TABLE grouping.merges (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id  bigint NOT NULL,
    parent_hash text NOT NULL,   -- the primary hash of the issue the others went into
    hashes      text[] NOT NULL, -- every hash of the merged issues
    merged_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX merges_project ON grouping.merges (project_id, id);
