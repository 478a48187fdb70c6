#!/usr/bin/env bash
# The README's test command. On a fresh machine it installs what is missing (uv, the locked Python
# dependencies, npm dev tools, Debian postgresql and redis-server), starts a throwaway PostgreSQL
# and Redis on loopback, runs ruff, runs pytest (warehouse tests on both SQLite and PostgreSQL),
# and stops the servers it started. Extra arguments go to pytest.
set -euo pipefail
source "$(dirname "$0")/setup.sh"
cd "$PROJECT_ROOT"

ensure_python_deps
ensure_npm_tools
ensure_debian_services

trap 'stop_throwaway_postgres; stop_throwaway_redis' EXIT
start_throwaway_postgres
start_throwaway_redis

log "ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check --quiet . || { log "ruff format: run '.venv/bin/ruff format .'"; exit 1; }

log "pytest (warehouse tests run on SQLite and on PostgreSQL)"
export INTMAX_TEST_POSTGRES_URL="$TEST_PG_URL" INTMAX_TEST_REDIS_URL="$TEST_REDIS_URL"
status=0
.venv/bin/pytest -n "${INTMAX_TEST_WORKERS:-3}" --dist worksteal --durations=30 "$@" || status=$?
# pytest exits 5 when it collected no test: for CI that is a failure, not a pass.
[ "$status" -eq 5 ] && log "pytest collected no tests"
exit "$status"
