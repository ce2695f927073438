-- The compact event a seen event keeps is written once per event and read
-- back only when an issue change arrives after its event: stored as json
-- (checked, kept as written), not parsed into jsonb on every insert.
ALTER TABLE alerting.seen_events ALTER COLUMN event TYPE json USING event::json;
