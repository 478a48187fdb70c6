# Shared by scripts/run.sh and scripts/test.sh (sourced, not run): install what is missing, idempotently.
# A fresh machine of this kind has Python, pip, Node and npm; everything else comes from here.

PROJECT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$HOME/.local/bin:$PATH"

log() { printf '==> %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else
    log "need root to run: $*"; return 1; fi
}

ensure_uv() {
  command -v uv >/dev/null && return
  log "installing uv"
  python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet uv
  command -v uv >/dev/null || { log "uv is not on PATH after installing it"; return 1; }
}

ensure_python_deps() {
  ensure_uv
  log "syncing Python dependencies from uv.lock"
  (cd "$PROJECT_ROOT" && uv sync --frozen --quiet)
}

# anvil and solc, at the versions of package-lock.json. The lock holds only the platform packages of
# the machine it was made on, so `npm ci` refuses it ("not in sync"), and a plain `npm install` adds
# the other platforms' optional anvil packages to it, leaving the working tree dirty. `--no-save`
# installs what the lock says and never writes package-lock.json (or package.json).
NPM_INSTALL=(npm install --no-save --no-audit --no-fund --loglevel=error)

ensure_npm_tools() {
  if [ ! -x "$PROJECT_ROOT/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil" ] \
     || [ ! -d "$PROJECT_ROOT/node_modules/solc" ] \
     || [ "$PROJECT_ROOT/package-lock.json" -nt "$PROJECT_ROOT/node_modules/.package-lock.json" ]; then
    log "installing npm dev tools (anvil, solc)"
    (cd "$PROJECT_ROOT" && "${NPM_INSTALL[@]}" >/dev/null)
  fi
}

postgres_bin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
  done
  return 1
}

ensure_debian_services() {
  local missing=()
  postgres_bin >/dev/null || missing+=(postgresql)
  command -v redis-server >/dev/null || missing+=(redis-server)
  # The browser tests drive Debian's chromium through Playwright (its own browser download is not
  # reachable from a machine with only the package registries).
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  [ ${#missing[@]} -eq 0 ] && return
  log "installing Debian packages: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Throwaway PostgreSQL on loopback; sets TEST_PG_URL and TEST_PG_DIR. initdb refuses to run as root,
# so as root the cluster belongs to the `postgres` user.
start_throwaway_postgres() {
  local bin port run_as=()
  bin="$(postgres_bin)"
  port="$(free_port)"
  TEST_PG_DIR="$(mktemp -d /tmp/intmax-pg.XXXXXX)"
  if [ "$(id -u)" = 0 ]; then chown postgres "$TEST_PG_DIR"; run_as=(runuser -u postgres --); fi
  "${run_as[@]}" "$bin/initdb" -D "$TEST_PG_DIR/data" -A trust -U postgres >/dev/null
  # Durability is pointless for a throwaway cluster; skipping fsync makes tests faster.
  "${run_as[@]}" "$bin/pg_ctl" -D "$TEST_PG_DIR/data" -l "$TEST_PG_DIR/log" -w \
    -o "-p $port -k $TEST_PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null
  TEST_PG_URL="postgresql://postgres@127.0.0.1:$port/postgres"
  TEST_PG_BIN="$bin"
  TEST_PG_RUN_AS=("${run_as[@]}")
  log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
}

stop_throwaway_postgres() {
  [ -n "${TEST_PG_DIR:-}" ] || return 0
  "${TEST_PG_RUN_AS[@]}" "$TEST_PG_BIN/pg_ctl" -D "$TEST_PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$TEST_PG_DIR"
}

# Throwaway Redis on loopback, no persistence; sets TEST_REDIS_URL.
start_throwaway_redis() {
  local port
  port="$(free_port)"
  TEST_REDIS_DIR="$(mktemp -d /tmp/intmax-redis.XXXXXX)"
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --dir "$TEST_REDIS_DIR" --pidfile "$TEST_REDIS_DIR/redis.pid" --logfile "$TEST_REDIS_DIR/log"
  for _ in $(seq 50); do [ -s "$TEST_REDIS_DIR/redis.pid" ] && break; sleep 0.1; done
  TEST_REDIS_URL="redis://127.0.0.1:$port/0"
  log "Redis on 127.0.0.1:$port"
}

stop_throwaway_redis() {
  [ -n "${TEST_REDIS_DIR:-}" ] || return 0
  [ -s "$TEST_REDIS_DIR/redis.pid" ] && kill "$(cat "$TEST_REDIS_DIR/redis.pid")" 2>/dev/null || true
  rm -rf "$TEST_REDIS_DIR"
}
