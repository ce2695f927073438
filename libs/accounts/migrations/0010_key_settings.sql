-- Sentry's settings of a DSN key: a rate limit over any window from a
-- minute to a day (rateLimit {count, window}, enforced by the gateway
-- beside the per-minute and per-hour pair), the secret half of the legacy
-- DSN form (public:secret@host; SDKs no longer need it and the gateway does
-- not check it, as Sentry's does not), and the JavaScript loader's SDK
-- version and options (hasReplay, hasPerformance, hasDebug).
ALTER TABLE api.project_keys
    ADD COLUMN rate_limit_count    bigint NOT NULL DEFAULT 0 CHECK (rate_limit_count >= 0),
    ADD COLUMN rate_limit_window   integer NOT NULL DEFAULT 0
        CHECK (rate_limit_window = 0 OR rate_limit_window BETWEEN 60 AND 86400),
    ADD COLUMN secret_key          text NOT NULL DEFAULT replace(gen_random_uuid()::text, '-', '')
        CHECK (secret_key ~ '^[0-9a-f]{32}$'),
    ADD COLUMN browser_sdk_version text NOT NULL DEFAULT 'latest',
    ADD COLUMN loader_options      jsonb NOT NULL DEFAULT '{}';
