#!/usr/bin/env bash
# The README's run command. On a fresh machine it installs what is missing (uv, the locked Python
# dependencies, npm dev tools), applies the warehouse migrations, and runs the pipeline on its
# embedded defaults (SQLite warehouse, SQLite Dagster instance): the API and Dagster UI + daemon.
# Ctrl-C stops everything it started.
set -euo pipefail
source "$(dirname "$0")/setup.sh"
cd "$PROJECT_ROOT"

ensure_python_deps
ensure_npm_tools

.venv/bin/intmax db upgrade
exec .venv/bin/intmax up "$@"
