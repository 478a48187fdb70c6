"""Warehouse reads of the API: in a worker thread, bounded by the request's deadline on the database.

`read_warehouse(engine, work)` runs `work(connection)` in a worker thread with the time left until
the request deadline (intmax_api.timeout) given to the database: PostgreSQL as the transaction's
`statement_timeout` (the server cancels a statement blocked on a lock), SQLite as busy timeout and
a progress handler that interrupts a long statement. The event loop does not wait for the thread
once the request is cancelled (the 504 is answered at once), and the thread itself ends by that
same deadline, so no thread or connection is left behind.

Failures become envelope errors, never a 500: the deadline is 504 GATEWAY_TIMEOUT, a warehouse
that cannot be reached or read is 503 SERVICE_UNAVAILABLE (the details go to the log only).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

import anyio
import psycopg2.errors
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from intmax_api.errors import ApiError
from intmax_api.timeout import time_left

log = logging.getLogger("intmax_api.warehouse")

T = TypeVar("T")
# Outside a request (a script calling a route function) a read still gets a bound.
DEFAULT_READ_SECONDS = 30.0
# How often (SQLite virtual-machine instructions) the progress handler looks at the clock.
SQLITE_PROGRESS_STEPS = 1_000


class ReadDeadline(Exception):
    """The database gave up at the request deadline."""


async def read_warehouse(engine: Engine, work: Callable[[Connection], T]) -> T:
    left = time_left()
    seconds = DEFAULT_READ_SECONDS if left is None else left
    if seconds <= 0:
        raise ApiError(504, "Gateway Timeout")
    try:
        return await anyio.to_thread.run_sync(_bounded_read, engine, work, seconds, abandon_on_cancel=True)
    except ReadDeadline:
        raise ApiError(504, "Gateway Timeout") from None
    except SQLAlchemyError as error:
        log.error("warehouse read failed: %s", type(error).__name__, exc_info=error)
        raise ApiError(503, "Warehouse unavailable") from None


def _bounded_read(engine: Engine, work: Callable[[Connection], T], seconds: float) -> T:
    deadline = time.monotonic() + seconds
    milliseconds = max(1, int(seconds * 1000))
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "postgresql":
                # Local to this transaction: the pooled session keeps no timeout afterwards.
                connection.execute(text("SELECT set_config('statement_timeout', :ms, true)"), {"ms": str(milliseconds)})
                return work(connection)
            raw = connection.connection.driver_connection
            assert isinstance(raw, sqlite3.Connection)
            raw.execute(f"PRAGMA busy_timeout = {milliseconds}")
            raw.set_progress_handler(lambda: time.monotonic() > deadline, SQLITE_PROGRESS_STEPS)
            try:
                return work(connection)
            finally:
                raw.set_progress_handler(None, 0)
    except DBAPIError as error:
        if _is_deadline(error.orig):
            raise ReadDeadline() from error
        raise


def _is_deadline(error: BaseException | None) -> bool:
    if isinstance(error, psycopg2.errors.QueryCanceled):
        return True  # statement_timeout
    # A lock held past the busy timeout, or the progress handler's interrupt.
    return isinstance(error, sqlite3.OperationalError) and getattr(error, "sqlite_errorname", "") in (
        "SQLITE_BUSY",
        "SQLITE_INTERRUPT",
    )
