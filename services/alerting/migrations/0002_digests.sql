-- Digest mails claimed per user and period: the row is taken before the
-- mail is sent, so however many replicas run, one sends it. A failed send
-- removes its row, for a later tick to try again.
CREATE TABLE alerting.digests (
    user_id      bigint NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('daily', 'weekly')),
    period_start date NOT NULL,
    events       bigint NOT NULL DEFAULT 0,
    sent_at      timestamptz,             -- NULL: nothing happened in the period, no mail
    claimed_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, kind, period_start)
);
