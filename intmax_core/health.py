"""Liveness probes of the pipeline's dependencies, shared by the API and the CLI.

Every probe ends by its deadline on its own: the drivers are told the time left (PostgreSQL is
polled without blocking, SQLite gets a busy timeout and a progress handler, Redis socket timeouts
and no retries), so a hung server costs the caller at most the timeout and leaves no thread or
connection behind. A probe opens its own connection and closes it: a pooled connection could be
a dead one, and checking it (pre-ping) would block without a deadline.
"""

from __future__ import annotations

import math
import select
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg2
import psycopg2.errors
import psycopg2.extensions
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy.engine import make_url

from intmax_core.warehouse.engine import normalize_url

# What the warehouse probe reads: the schema revision, a real table that DDL or a lock can block,
# unlike `SELECT 1`. An unmigrated warehouse has none and still counts as up (it answers).
VERSION_TABLE = "alembic_version"
# libpq rounds connect_timeout to whole seconds and takes anything below 2 as 2; the polling below
# enforces the real deadline, this only stops libpq from waiting longer on its own.
LIBPQ_MIN_CONNECT_TIMEOUT_SECONDS = 2
# How often (in SQLite virtual-machine instructions) the SQLite progress handler checks the deadline.
SQLITE_PROGRESS_STEPS = 1_000
# The PostgreSQL server cancels the probe's statement this much before the client gives up, so that
# a blocked statement ends on the server too (it does not notice a closed client while it waits).
SERVER_CANCEL_MARGIN_SECONDS = 0.1


@dataclass(frozen=True)
class DependencyStatus:
    up: bool
    latency_ms: float
    error: str | None = None


class ProbeTimeout(TimeoutError):
    """The dependency did not answer before the deadline."""


def _probe(check: Callable[[float], None], timeout: float) -> DependencyStatus:
    started = time.monotonic()
    try:
        check(started + timeout)
    except ProbeTimeout:
        return DependencyStatus(False, _ms(started), "Timeout")
    except Exception as error:
        return DependencyStatus(False, _ms(started), type(error).__name__)
    return DependencyStatus(True, _ms(started))


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise ProbeTimeout()
    return left


def warehouse_status(url: str, timeout: float) -> DependencyStatus:
    """Read the warehouse's schema revision within `timeout` seconds."""
    url = normalize_url(url)
    check = _sqlite_check if make_url(url).get_backend_name() == "sqlite" else _postgres_check
    return _probe(lambda deadline: check(url, deadline), timeout)


def redis_status(url: str, timeout: float) -> DependencyStatus:
    def check(deadline: float) -> None:
        left = _remaining(deadline)
        # redis-py retries timeouts and connection errors 10 times with backoff by default: one
        # probe would then take many times its timeout.
        client = redis.Redis.from_url(
            url, socket_timeout=left, socket_connect_timeout=left, retry=Retry(NoBackoff(), 0)
        )
        try:
            client.ping()
        except redis.TimeoutError:
            raise ProbeTimeout() from None
        finally:
            client.close()

    return _probe(check, timeout)


# --- PostgreSQL: libpq in non-blocking mode, polled until the deadline ---------------------------------
def _postgres_check(url: str, deadline: float) -> None:
    parsed = make_url(url)
    _, params = parsed.get_dialect()().create_connect_args(parsed)
    params |= {
        "connect_timeout": max(LIBPQ_MIN_CONNECT_TIMEOUT_SECONDS, math.ceil(_remaining(deadline))),
        "application_name": "intmax-pipeline-health",
        "async_": True,
    }
    connection = psycopg2.connect(**params)
    try:
        _poll(connection, deadline)
        server_ms = max(1, int((_remaining(deadline) - SERVER_CANCEL_MARGIN_SECONDS) * 1000))
        cursor = connection.cursor()
        try:
            # One round trip; the SET bounds the SELECT after it.
            cursor.execute(f"SET statement_timeout = {server_ms}; SELECT version_num FROM {VERSION_TABLE}")
            _poll(connection, deadline)
            cursor.fetchall()
        except psycopg2.errors.UndefinedTable:
            pass  # not migrated yet: the server answered
        except psycopg2.errors.QueryCanceled:
            raise ProbeTimeout() from None  # the server's statement_timeout: the deadline, less the margin
    finally:
        connection.close()


def _poll(connection: psycopg2.extensions.connection, deadline: float) -> None:
    """Drive a non-blocking libpq connection until its current operation completes or the deadline passes."""
    while True:
        state = connection.poll()
        if state == psycopg2.extensions.POLL_OK:
            return
        left = _remaining(deadline)
        if state == psycopg2.extensions.POLL_READ:
            ready = select.select([connection.fileno()], [], [], left)[0]
        elif state == psycopg2.extensions.POLL_WRITE:
            ready = select.select([], [connection.fileno()], [], left)[1]
        else:
            raise psycopg2.OperationalError(f"unexpected poll state {state}")
        if not ready:
            raise ProbeTimeout()


# --- SQLite: busy timeout for locks, a progress handler for long statements -----------------------------
def _sqlite_check(url: str, deadline: float) -> None:
    parsed = make_url(url)
    args, params = parsed.get_dialect()().create_connect_args(parsed)
    params["timeout"] = _remaining(deadline)  # sqlite3's busy timeout: how long to wait for a lock
    connection = sqlite3.connect(*args, **params)
    try:
        # A non-zero return aborts the running statement (sqlite3.OperationalError: interrupted).
        connection.set_progress_handler(lambda: time.monotonic() > deadline, SQLITE_PROGRESS_STEPS)
        try:
            present = connection.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (VERSION_TABLE,)
            ).fetchone()
            if present:
                connection.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchall()
        except sqlite3.OperationalError as error:
            # A lock held past the busy timeout, or the progress handler's abort: both are the deadline.
            if getattr(error, "sqlite_errorname", "") in ("SQLITE_BUSY", "SQLITE_INTERRUPT"):
                raise ProbeTimeout() from error
            raise
    finally:
        connection.close()
