-- Sign-in and mail attempt counters, shared by every api and web process so
-- that the limits hold however many replicas answer. Keys are SHA-256 hashes
-- of the address or email counted; nothing an attacker types is kept as text.
CREATE TABLE api.attempts (
    scope        text NOT NULL,
    key_hash     bytea NOT NULL,
    window_start timestamptz NOT NULL,
    n            integer NOT NULL,
    PRIMARY KEY (scope, key_hash)
);
CREATE INDEX ON api.attempts (window_start);
