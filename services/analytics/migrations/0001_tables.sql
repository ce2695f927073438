-- The analytics role's tables. Every table is a ReplacingMergeTree keyed by
-- what identifies a row (event id, span id, or the INGEST sequence of the
-- envelope it came from), so a redelivered or twice-consumed message
-- collapses into one row; queries read with FINAL so they are exact before
-- merges. Partitions are days (toYYYYMMDD), dropped whole after
-- EVENT_RETENTION_DAYS (18.16 has no TTL). Times with sub-second precision
-- are Float64 seconds beside a DateTime (18.16 has no DateTime64).
CREATE TABLE IF NOT EXISTS errors (
    project_id UInt64,
    timestamp DateTime,
    event_id String,
    issue_id UInt64,
    trace_id String,
    span_id String,
    transaction String,
    level String,
    title String,
    type String,
    release String,
    environment String,
    user String,
    platform String,
    tag_keys Array(String),
    tag_values Array(String),
    received DateTime
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(timestamp)
ORDER BY (project_id, timestamp, event_id)
;
CREATE TABLE IF NOT EXISTS transactions (
    project_id UInt64,
    timestamp DateTime,
    start_ts Float64,
    end_ts Float64,
    event_id String,
    trace_id String,
    span_id String,
    parent_span_id String,
    transaction String,
    op String,
    status String,
    duration_ms Float64,
    release String,
    environment String,
    user String,
    platform String,
    tag_keys Array(String),
    tag_values Array(String)
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(timestamp)
ORDER BY (project_id, timestamp, event_id)
;
CREATE TABLE IF NOT EXISTS spans (
    project_id UInt64,
    timestamp DateTime,
    start_ts Float64,
    end_ts Float64,
    trace_id String,
    span_id String,
    parent_span_id String,
    segment_id String,
    transaction String,
    op String,
    description String,
    status String,
    duration_ms Float64,
    is_segment UInt8,
    release String,
    environment String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(timestamp)
ORDER BY (project_id, timestamp, trace_id, span_id)
;
CREATE TABLE IF NOT EXISTS sessions (
    project_id UInt64,
    started DateTime,
    source String,
    version UInt64,
    release String,
    environment String,
    distinct_id String,
    status String,
    quantity UInt32,
    errors UInt32
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMMDD(started)
ORDER BY (project_id, release, environment, source)
;
CREATE TABLE IF NOT EXISTS logs (
    project_id UInt64,
    timestamp DateTime,
    ts Float64,
    source String,
    trace_id String,
    level String,
    body String,
    release String,
    environment String,
    attr_keys Array(String),
    attr_values Array(String)
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(timestamp)
ORDER BY (project_id, timestamp, source)
;
CREATE TABLE IF NOT EXISTS outcomes (
    project_id UInt64,
    timestamp DateTime,
    source String,
    category String,
    outcome String,
    reason String,
    quantity UInt64
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(timestamp)
ORDER BY (project_id, timestamp, source, category, outcome, reason)
