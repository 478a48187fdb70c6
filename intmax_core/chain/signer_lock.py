"""One signer, one sender at a time: a lock on (chain id, signer) that holds across processes.

On PostgreSQL a session-level advisory lock on a dedicated connection; on SQLite an exclusive
`flock` on a file next to the database file. Both are released by the server or the operating
system when the holding process dies, so a crash never leaves a signer locked.

A session advisory lock also ends, silently, when its session does: the server restarts, an
administrator or a timeout (`idle_session_timeout`, a proxy's idle cut) terminates the backend,
a network partition drops the connection. The holder is not told; another sender may then take
the lock and pick the same nonce. So the lock is re-asserted before every broadcast
(`SignerLock.assert_held`): the lock's own connection must still answer and `pg_locks` must still
show the advisory lock granted to that connection's backend. Otherwise `SignerLockLost` is raised
and nothing is broadcast.

The lock connection must be a real PostgreSQL session: a transaction-pooling proxy (PgBouncer in
`pool_mode = transaction`, or statement mode) hands each statement to whichever server
connection is free, so a session advisory lock taken through it belongs to a backend the sender
no longer talks to, and unlocks, checks and crashes all miss it. Point the warehouse URL at
PostgreSQL itself or at a session-pooling proxy.
"""

from __future__ import annotations

import contextlib
import fcntl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from eth_utils import keccak
from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

LOCK_POLL_SECONDS = 0.05


class SignerBusy(TimeoutError):
    """Another sender held the signer's lock for longer than the timeout."""


class SignerLockLost(RuntimeError):
    """The signer's lock is no longer held (its database session ended): nothing may be broadcast."""


class SignerLock(Protocol):
    name: str

    def assert_held(self) -> None:
        """Raise SignerLockLost unless the lock is still held by this process."""


class _LocalLock:
    """A flock or an in-process lock: held as long as this process holds it; nothing can take it away."""

    def __init__(self, name: str) -> None:
        self.name = name

    def assert_held(self) -> None:
        return None


_process_locks: dict[str, threading.Lock] = {}
_process_locks_guard = threading.Lock()


def lock_name(chain_id: int, signer: str) -> str:
    return f"intmax-signer:{chain_id}:{signer.lower()}"


def advisory_key(name: str) -> int:
    # Advisory locks take a bigint; 8 bytes of keccak make a collision between signers negligible.
    return int.from_bytes(keccak(text=name)[:8], "big", signed=True)


@contextlib.contextmanager
def signer_lock(engine: Engine, chain_id: int, signer: str, timeout: float) -> Iterator[SignerLock]:
    """Hold the (chain id, signer) lock, across processes sharing the warehouse; raise SignerBusy after `timeout`."""
    name = lock_name(chain_id, signer)
    if engine.dialect.name == "postgresql":
        with _advisory_lock(engine, name, timeout) as lock:
            yield lock
        return
    database = make_url(engine.url).database
    if database and database != ":memory:":
        with _file_lock(Path(f"{database}.{chain_id}-{signer.lower()}.signer-lock"), name, timeout):
            yield _LocalLock(name)
        return
    # An in-memory SQLite warehouse exists in one process only: a process-local lock suffices.
    with _process_locks_guard:
        lock = _process_locks.setdefault(name, threading.Lock())
    if not lock.acquire(timeout=timeout):
        raise SignerBusy(f"{name} is held by another sender")
    try:
        yield _LocalLock(name)
    finally:
        lock.release()


class _AdvisoryLock:
    """A held session advisory lock, and the connection (session) that holds it."""

    # pg_locks shows a one-bigint advisory lock as classid = high 32 bits, objid = low 32 bits,
    # objsubid = 1 (two-int4 locks use objsubid = 2).
    HELD = text(
        "SELECT pg_backend_pid() AS pid, EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
        "AND pid = pg_backend_pid() AND classid = :classid AND objid = :objid AND objsubid = 1 "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())) AS held"
    )

    def __init__(self, name: str, key: int, connection: Connection, backend_pid: int) -> None:
        self.name = name
        self.key = key
        self.connection = connection
        self.backend_pid = backend_pid

    def assert_held(self) -> None:
        unsigned = self.key & 0xFFFF_FFFF_FFFF_FFFF
        try:
            # On the lock's own connection: a dead session raises here, and a session that
            # SQLAlchemy silently replaced has another backend pid and holds nothing.
            pid, held = self.connection.execute(
                self.HELD, {"classid": unsigned >> 32, "objid": unsigned & 0xFFFF_FFFF}
            ).one()
        except SQLAlchemyError as error:
            # A dead connection raises OperationalError, then PendingRollbackError until closed.
            reason = type(getattr(error, "orig", None) or error).__name__
            raise SignerLockLost(f"{self.name}: the lock's database session is gone ({reason})") from None
        if pid != self.backend_pid or not held:
            raise SignerLockLost(f"{self.name}: the lock's database session no longer holds it")


@contextlib.contextmanager
def _advisory_lock(engine: Engine, name: str, timeout: float) -> Iterator[_AdvisoryLock]:
    key = advisory_key(name)
    # AUTOCOMMIT: the lock is the session's, so no transaction stays open while it is held.
    connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        deadline = time.monotonic() + timeout
        while not connection.execute(select(func.pg_try_advisory_lock(key))).scalar_one():
            if time.monotonic() >= deadline:
                raise SignerBusy(f"{name} is held by another sender")
            time.sleep(LOCK_POLL_SECONDS)
        backend_pid = connection.execute(select(func.pg_backend_pid())).scalar_one()
    except BaseException:
        connection.invalidate()  # never hand a connection that may hold the lock back to the pool
        connection.close()
        raise
    try:
        yield _AdvisoryLock(name, key, connection, backend_pid)
    finally:
        released = False
        # A failed unlock (the session is already gone) must not hide the caller's own error;
        # closing the session for good releases whatever it may still hold.
        with contextlib.suppress(SQLAlchemyError):
            released = bool(connection.execute(select(func.pg_advisory_unlock(key))).scalar_one())
        if not released:
            connection.invalidate()
        connection.close()


@contextlib.contextmanager
def _file_lock(path: Path, name: str, timeout: float) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise SignerBusy(f"{name} is held by another sender") from None
                time.sleep(LOCK_POLL_SECONDS)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
