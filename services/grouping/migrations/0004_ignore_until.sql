-- The issues whose ignore ends at a time, for the sweep that unignores them
-- when it passes.
CREATE INDEX issues_ignore_until ON grouping.issues (ignore_until)
    WHERE status = 'ignored' AND ignore_until IS NOT NULL;
