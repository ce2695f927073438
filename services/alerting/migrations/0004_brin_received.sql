-- seen_events and triggers take a row per event and per issue change, in
-- about the order they were received, and are looked up by time only to
-- prune what is a day old. A BRIN index serves that prune at a fraction
-- of a B-tree's cost on every insert.
DROP INDEX IF EXISTS alerting.seen_events_received_idx;
CREATE INDEX seen_events_received_brin ON alerting.seen_events USING brin (received);
DROP INDEX IF EXISTS alerting.triggers_at_idx;
CREATE INDEX triggers_at_brin ON alerting.triggers USING brin (at);
