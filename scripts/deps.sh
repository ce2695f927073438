#!/usr/bin/env bash
# Makes sure what the tests need is installed and running: Postgres on
# 127.0.0.1:5432 (trust auth for postgres), the e2e module's npm packages, and
# chromium for the dashboard's browser tests.
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
    (cd e2e/node && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi

if ! command -v chromium >/dev/null 2>&1; then
  echo "deps: installing chromium" >&2
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
