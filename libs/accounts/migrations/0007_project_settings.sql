-- Sentry's project settings (resolveAge, digests, scrapeJavaScript,
-- verifySSL, options) as the fields changed from Sentry's defaults;
-- securityToken, the secret of a project's security-report endpoint;
-- bookmarks, per user.
ALTER TABLE api.projects ADD COLUMN settings jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN security_token text NOT NULL DEFAULT replace(gen_random_uuid()::text, '-', '');

CREATE TABLE api.project_bookmarks (
    user_id    bigint NOT NULL REFERENCES api.users ON DELETE CASCADE,
    project_id bigint NOT NULL REFERENCES api.projects ON DELETE CASCADE,
    PRIMARY KEY (user_id, project_id)
);
