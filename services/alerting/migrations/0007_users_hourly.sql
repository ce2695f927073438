-- The users of an issue by hour, written in the same transaction as the
-- minutes. A unique-user window of days counts the distinct users of its
-- whole hours here and of its partial hours at either end from
-- alerting.users: an issue whose users come back every few minutes has
-- one row per user and hour instead of one per user and minute.
CREATE TABLE alerting.users_hourly (
    issue_id bigint NOT NULL,
    hour     timestamptz NOT NULL,
    user_key text NOT NULL,
    PRIMARY KEY (issue_id, hour, user_key)
);
CREATE INDEX users_hourly_hour_brin ON alerting.users_hourly USING brin (hour);
INSERT INTO alerting.users_hourly (issue_id, hour, user_key)
SELECT DISTINCT issue_id, date_trunc('hour', minute AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', user_key
FROM alerting.users;
