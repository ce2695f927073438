#!/usr/bin/env bash
# make bench: the hot path's Go benchmarks, then the load generator against a
# freshly started `faultline serve` (its own Postgres database, embedded NATS).
# It prints numbers and asserts nothing; docs/benchmarks.md records them.
#
#   BENCH_DURATION=15s   measured time of each load scenario and pipeline step
#   BENCH_FLAGS=...      more loadgen flags for the gateway run (go run ./e2e/cmd/loadgen -h)
#   PIPELINE_FLAGS=...   more loadgen flags for the pipeline run (e.g. -pipeline-rates 1000,2000)
#   ALERTING_FLAGS=...   more loadgen flags for the alerting run (e.g. -alerting-rate 2000)
#   ANALYTICS_FLAGS=...  more loadgen flags for the analytics run (e.g. -analytics-errors-percent 50)
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
duration=${BENCH_DURATION:-15s}

echo "== machine: $(nproc) cores,$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== go benchmarks"
$GO test -run='^$' -bench=. -benchmem ./libs/envelope ./libs/scrub ./services/gateway

echo "== symbolication: one event of two minified JavaScript frames, warm source-map cache"
$GO test -run='^$' -bench='^BenchmarkSymbolicate$' -benchmem ./services/sourcemaps

echo "== grouping: a backlog of 20,000 error events cleared into Postgres, and the same rows by raw CopyFrom"
# events/s is the backlog cleared end to end (fetch, normalize, group, store,
# publish, ack) by one replica; raw_copy_events/s the stored rows copied into
# an unindexed table in one statement; ratio the first over the second.
$GO test -run='^$' -bench='^BenchmarkGroupingBacklog$' -benchtime=20000x ./services/grouping

echo "== analytics: rows/s into ClickHouse by the role against a raw batch insert of the same rows; query latency over 1,000,000 transactions"
# rows/s: 20,000 transactions (100,000 rows) consumed from INGEST by one
# replica with the production options until acknowledged; raw_rows/s: the
# same rows by clickhouse-go batch inserts of the role's batch size; ratio
# the first over the second. Then the events-stats query (count() and p95()
# hourly over 24h) and the p95-by-transaction table over a million stored
# transactions, 20 runs each: median and slowest in ms. Needs ClickHouse
# (libs/clickhouse/chtest starts one; FAULTLINE_NO_CLICKHOUSE=1 skips).
$GO test -run='^$' -bench='^BenchmarkAnalytics(Insert|Queries)$' -benchtime=1x -timeout=30m ./services/analytics
# The role's CPU per transaction envelope (parse and decode into rows).
$GO test -run='^$' -bench='^BenchmarkAnalyticsDecode$' -benchtime=20000x -benchmem ./services/analytics

echo "== alerting: one replica clearing 20,000 grouped events of a project with 50 rules"
# events/s is the backlog counted, evaluated, queued and acknowledged by one
# replica, its deliveries going to a local HTTP receiver; rss_MB the test
# process's peak (it holds the embedded JetStream server too).
$GO test -run='^$' -bench='^BenchmarkAlertingBacklog$' -benchtime=20000x ./services/alerting

echo "== load generator: $duration per scenario"
$GO build -o bin/loadgen ./e2e/cmd/loadgen
# rss: the idle server; flat: flat out on 64 connections; bare: the same
# payloads against a handler that only decompresses; rate: 1000/s open loop;
# overload: 1024 connections flat out, against a server with the default
# GATEWAY_MAX_IN_FLIGHT (512) and against one that sheds beyond 256.
# shellcheck disable=SC2086
bin/loadgen -faultline bin/faultline -duration "$duration" \
	-scenarios rss,flat,bare,rate,overload -overload-max-in-flight 0,256 ${BENCH_FLAGS:-}

echo "== pipeline: gateway to grouped and committed, $duration per rate; load average $(cut -d' ' -f1-3 /proc/loadavg)"
# pipeline: error events at fixed rates, open loop, each timed until the
# grouping role announces it on events.<project>.grouped (after its
# transaction committed), a sample read back through the REST API, the
# grouping consumer's backlog sampled; backlog: 30,000 envelopes queued while
# grouping is paused, then the time grouping takes to clear them. Each runs
# against a fresh server of its own.
# shellcheck disable=SC2086
bin/loadgen -faultline bin/faultline -pipeline-duration "$duration" -scenarios pipeline,backlog ${PIPELINE_FLAGS:-}

echo "== grouping scale-out: 1, 2 and 3 replicas on a three-node JetStream cluster (docs/scaling.md)"
# Each replica a process of its own; the same backlog of distinct events
# queued through two gateways while the consumer is paused, then timed from
# the first delivery to nothing pending.
$GO build -o bin/faultline ./services/faultline
(cd e2e && FAULTLINE_BIN="$PWD/../bin/faultline" FAULTLINE_SCALE_BENCH=1 $GO test -count=1 -v -timeout 20m \
	-run '^TestGroupingScalesOut$' ./cluster/ | grep -E '^(grouping scale-out|[0-9] grouping replica|--- FAIL|FAIL)')

echo "== pipeline, half the error events minified JavaScript (symbolicated by grouping) at 2,000/s, $duration"
# The same pipeline step, with a source-map bundle uploaded first through the
# REST API and one error event in two thrown from its minified code (debug
# id lookup, warm cache): the cost of symbolication in the whole pipeline.
bin/loadgen -faultline bin/faultline -pipeline-duration "$duration" -scenarios pipeline -pipeline-rates 2000 \
	-pipeline-minified 50 -pipeline-decisions 0
echo "== alerting: notification latency at 1,000 events/s, $duration; load average $(cut -d' ' -f1-3 /proc/loadavg)"
# alerting: error events at 1,000/s, one in 20 starting an issue that a
# first-seen rule (among 50 rules of the project) notifies to a webhook
# receiver in the load generator; each notification timed from the
# gateway's 200 for its event to the webhook's arrival.
# shellcheck disable=SC2086
bin/loadgen -faultline bin/faultline -duration "$duration" -scenarios alerting ${ALERTING_FLAGS:-}
echo "== analytics: lag at 2,500 events/s in the all-in-one, $duration; load average $(cut -d' ' -f1-3 /proc/loadavg)"
# analytics: a ClickHouse server of the run's own (libs/clickhouse/chtest
# starts it) and the all-in-one with CLICKHOUSE_URL; 2,500 requests/s open
# loop, 20% error events and 80% distinct transactions of two spans each.
# Per second: the backlog of the role's consumers on INGEST and EVENTS and
# the age of their oldest unacknowledged message, rows into ClickHouse;
# then sent/accepted/rows per second, 200-to-queryable p50/p99 of 5 events
# a second, the backlog at the end, drain time and the server's RSS.
if [ "${FAULTLINE_NO_CLICKHOUSE:-}" = 1 ]; then
	echo "analytics: skipped (FAULTLINE_NO_CLICKHOUSE=1)"
else
	# shellcheck disable=SC2086
	bin/loadgen -faultline bin/faultline -duration "$duration" -scenarios analytics -analytics-rate 2500 ${ANALYTICS_FLAGS:-}
fi
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
