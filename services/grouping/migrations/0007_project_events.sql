-- A project's events, newest first (GET /api/0/projects/{org}/{project}/events/,
-- what sentry-cli events list reads), without scanning the whole project.
CREATE INDEX events_project_ts ON grouping.events (project_id, ts DESC, event_id DESC);
