-- Ignore until N events within a trailing window (Sentry's ignoreWindow):
-- the window in minutes, and the received times of the ignored issue's
-- latest events inside it (at most N), which is all the count needs.
ALTER TABLE grouping.issues ADD COLUMN ignore_until_window bigint,
    ADD COLUMN ignore_window_seen timestamptz[];
