-- A project's data-scrubbing settings (Sentry's names, scrub.Settings as
-- JSON); NULL means Sentry's defaults. The gateway reads them from the key
-- bucket, so a change is announced like a change of allowed origins.
ALTER TABLE api.projects ADD COLUMN scrub jsonb;

DROP TRIGGER projects_notify ON api.projects;
CREATE TRIGGER projects_notify AFTER UPDATE OF allowed_origins, scrub ON api.projects
    FOR EACH ROW EXECUTE FUNCTION api.notify_project_change();
