#!/usr/bin/env bash
# Makes sure what the tests need is installed and running: Postgres on
# 127.0.0.1:5432 (trust auth for postgres), the e2e module's npm packages,
# chromium for the dashboard's browser tests, and clickhouse-server for the
# analytics tests (libs/clickhouse/chtest starts its own server per test run;
# the package's service is not started).
set -euo pipefail
cd "$(dirname "$0")/.."

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
if ! pg_up; then
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "deps: starting postgres"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  pg_up || { echo "deps: postgres is not reachable at 127.0.0.1:5432" >&2; exit 1; }
fi

if [ -f e2e/node/package.json ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "deps: installing nodejs and npm" >&2
    apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
  fi
  if [ ! -d e2e/node/node_modules ] || [ e2e/node/package-lock.json -nt e2e/node/node_modules ]; then
    echo "deps: npm ci in e2e/node"
    # Both sentry-cli versions (@sentry/cli 3.x and the alias sentry-cli-2)
    # get their binary from an optional platform package on the registry;
    # their postinstall would otherwise fall back to Sentry's CDN.
    (cd e2e/node && SENTRYCLI_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
  fi
fi

# libs/clickhouse/chdb loads libchdb.so (the npm package @chdb/lib-linux-x64-gnu,
# ClickHouse's engine for the current-version test) through cgo.
if ! command -v gcc >/dev/null 2>&1; then
  echo "deps: installing gcc (cgo, for the chDB test)" >&2
  apt-get update -qq && apt-get install -y -qq gcc libc6-dev >/dev/null
fi

if ! command -v chromium >/dev/null 2>&1; then
  echo "deps: installing chromium" >&2
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi

if [ "${FAULTLINE_NO_CLICKHOUSE:-}" != 1 ] && ! command -v clickhouse-server >/dev/null 2>&1 \
  && [ ! -x /usr/sbin/clickhouse-server ] && ! command -v clickhouse >/dev/null 2>&1; then
  echo "deps: installing clickhouse-server" >&2
  # policy-rc.d or a missing systemd may refuse to start its service: the
  # tests do not need it, so that is not an error.
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold clickhouse-server >/dev/null \
    || { [ -x /usr/sbin/clickhouse-server ] || { echo "deps: clickhouse-server did not install" >&2; exit 1; }; }
fi
