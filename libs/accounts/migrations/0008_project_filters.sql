-- A project's inbound data filters that are switched on (Sentry's
-- browser-extensions, localhost, legacy-browser with its subfilters,
-- web-crawlers, filtered-transaction), as inboundfilter.Settings JSON; the
-- lists of IP addresses, releases and error messages to drop are the
-- project options filters:blacklisted_ips, filters:releases and
-- filters:error_messages (in settings.options), as Sentry keeps them. The
-- gateway reads both from the key bucket, so a change of either is
-- announced like a change of allowed origins.
ALTER TABLE api.projects ADD COLUMN filters jsonb NOT NULL DEFAULT '{}';

DROP TRIGGER projects_notify ON api.projects;
CREATE TRIGGER projects_notify AFTER UPDATE OF allowed_origins, scrub, filters, settings ON api.projects
    FOR EACH ROW EXECUTE FUNCTION api.notify_project_change();
