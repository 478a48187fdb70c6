#!/usr/bin/env bash
# The README's run command. On a fresh machine it installs what is missing (uv, the locked Python
# dependencies, npm dev tools), then runs the pipeline on its embedded defaults: a local devnet
# (L1 + L2 anvil chains with the contracts deployed and simulated activity), the SQLite warehouse
# (migrated), the API, and Dagster UI + daemon on a SQLite instance. Ctrl-C stops everything.
set -euo pipefail
source "$(dirname "$0")/setup.sh"
cd "$PROJECT_ROOT"

ensure_python_deps
ensure_npm_tools

exec .venv/bin/intmax up "$@"
