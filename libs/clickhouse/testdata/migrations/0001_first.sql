-- a table and a second statement
CREATE TABLE IF NOT EXISTS things (id String, n UInt32) ENGINE = ReplacingMergeTree ORDER BY id
;
CREATE TABLE IF NOT EXISTS things2 (id String) ENGINE = MergeTree ORDER BY id
