-- The per-minute counts summed by hour, written in the same transaction as
-- the minutes. A window of days reads its whole hours here and only its
-- partial hours at either end from alerting.counts: a 30-day window of a
-- busy issue is about 720 rows, not 43,200.
CREATE TABLE alerting.counts_hourly (
    project_id bigint NOT NULL,
    issue_id   bigint NOT NULL,
    hour       timestamptz NOT NULL,
    n          bigint NOT NULL,
    PRIMARY KEY (issue_id, project_id, hour)
);
CREATE INDEX counts_hourly_hour_brin ON alerting.counts_hourly USING brin (hour);
INSERT INTO alerting.counts_hourly (project_id, issue_id, hour, n)
SELECT project_id, issue_id, date_trunc('hour', minute AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', sum(n)
FROM alerting.counts GROUP BY 1, 2, 3;
