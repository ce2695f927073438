-- Reprocessings of issues (the "reprocess" decision): which issue, what
-- became of its events, and where they went. Written in the decision's own
-- transaction; the api and web read it to show an issue's reprocessing.
-- issue_id may name an issue that is gone: one left without events is
-- removed, and its page says where its events went.
CREATE TABLE grouping.reprocessings (
    decision_id text PRIMARY KEY,
    project_id  bigint NOT NULL,
    issue_id    bigint NOT NULL,
    events      bigint NOT NULL,              -- the events read again
    moved       bigint NOT NULL,              -- of them, those now in other issues
    updated     bigint NOT NULL,              -- of them, those that stayed, symbolicated anew
    issues      bigint[] NOT NULL DEFAULT '{}', -- the issues the moved events went to
    removed     boolean NOT NULL,             -- the issue was left without events and removed
    decided_at  timestamptz NOT NULL,
    done_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reprocessings_issue ON grouping.reprocessings (issue_id, decided_at);
