-- Each user's digest mail: daily and weekly, sent at digest_hour in their
-- time zone (an IANA name). No row: no digests.
CREATE TABLE api.notification_settings (
    user_id       bigint PRIMARY KEY REFERENCES api.users (id) ON DELETE CASCADE,
    daily_digest  boolean NOT NULL DEFAULT false,
    weekly_digest boolean NOT NULL DEFAULT false,
    digest_hour   smallint NOT NULL DEFAULT 9 CHECK (digest_hour BETWEEN 0 AND 23),
    timezone      text NOT NULL DEFAULT 'UTC',
    updated_at    timestamptz NOT NULL DEFAULT now()
);
