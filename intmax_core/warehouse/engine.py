"""SQLAlchemy engines for the warehouse: SQLite (embedded default) or PostgreSQL.

`shared_engine(url)` is the one engine (and so the one connection pool) per process and URL.
Dagster rebuilds resources for every sensor tick and every run, so an engine per resource instance
would open a new pool each time and leave the old ones to the garbage collector, holding
connections (PostgreSQL backends, SQLite file handles) until then.
"""

from __future__ import annotations

import atexit
import os
import threading
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

# SQLite serialises writers; waiting beats failing when a sensor and a run write at once.
SQLITE_BUSY_TIMEOUT_MS = 30_000
POSTGRES_CONNECT_TIMEOUT_SECONDS = 5


def normalize_url(url: str) -> str:
    """Use psycopg2 explicitly for PostgreSQL: dagster-postgres uses it, and SQLAlchemy 2.1 would not."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(
    url: str,
    *,
    sqlite_busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
    postgres_connect_timeout_seconds: int = POSTGRES_CONNECT_TIMEOUT_SECONDS,
    postgres_options: str | None = None,
    **kwargs: object,
) -> Engine:
    """A new engine with its own pool. Long-lived code wants `shared_engine`; this is for engines
    with special settings (the health probe's timeouts) or whose owner disposes them."""
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": sqlite_busy_timeout_ms / 1000}, **kwargs)
        event.listen(engine, "connect", _sqlite_configurer(sqlite_busy_timeout_ms))
        return engine
    connect_args: dict[str, object] = {
        "connect_timeout": postgres_connect_timeout_seconds,
        "application_name": "intmax-pipeline",
    }
    if postgres_options:
        connect_args["options"] = postgres_options
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)


def _sqlite_configurer(busy_timeout_ms: int):  # type: ignore[no-untyped-def]
    def configure(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        # WAL lets the API read while an asset writes; foreign keys are off by default in SQLite.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    return configure


# --- one engine per (process, URL) -------------------------------------------------------------------
_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def shared_engine(url: str) -> Engine:
    """The process's engine for `url`, created on first use. Never dispose it yourself: it is
    disposed at interpreter exit, and its pool is replaced in a forked child."""
    key = normalize_url(url)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = make_engine(key)
        return engine


def _dispose_all() -> None:
    with _engines_lock:
        engines = list(_engines.values())
    for engine in engines:
        engine.dispose()


def _after_fork_in_child() -> None:
    # A forked child inherits the parent's pooled connections: two processes on one socket corrupt
    # each other's protocol state. close=False drops them without closing them (closing would end
    # the parent's sessions too); the child then opens its own. The lock is new because another
    # thread may have held it at the moment of the fork, and no thread of the child will release it.
    global _engines_lock
    _engines_lock = threading.Lock()
    for engine in _engines.values():
        engine.dispose(close=False)


atexit.register(_dispose_all)
os.register_at_fork(after_in_child=_after_fork_in_child)


def redacted(url: str) -> str:
    """The URL with its password hidden, for logs and error messages."""
    return make_url(url).render_as_string(hide_password=True)
