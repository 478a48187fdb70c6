"""One signer, one sender at a time: a lock on (chain id, signer) that holds across processes.

On PostgreSQL a session-level advisory lock on a dedicated connection; on SQLite an exclusive
`flock` on a file next to the database file. Both are released by the server or the operating
system when the holding process dies, so a crash never leaves a signer locked.
"""

from __future__ import annotations

import contextlib
import fcntl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from eth_utils import keccak
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url

LOCK_POLL_SECONDS = 0.05


class SignerBusy(TimeoutError):
    """Another sender held the signer's lock for longer than the timeout."""


_process_locks: dict[str, threading.Lock] = {}
_process_locks_guard = threading.Lock()


def lock_name(chain_id: int, signer: str) -> str:
    return f"intmax-signer:{chain_id}:{signer.lower()}"


@contextlib.contextmanager
def signer_lock(engine: Engine, chain_id: int, signer: str, timeout: float) -> Iterator[None]:
    """Hold the (chain id, signer) lock, across processes sharing the warehouse; raise SignerBusy after `timeout`."""
    name = lock_name(chain_id, signer)
    if engine.dialect.name == "postgresql":
        with _advisory_lock(engine, name, timeout):
            yield
        return
    database = make_url(engine.url).database
    if database and database != ":memory:":
        with _file_lock(Path(f"{database}.{chain_id}-{signer.lower()}.signer-lock"), name, timeout):
            yield
        return
    # An in-memory SQLite warehouse exists in one process only: a process-local lock suffices.
    with _process_locks_guard:
        lock = _process_locks.setdefault(name, threading.Lock())
    if not lock.acquire(timeout=timeout):
        raise SignerBusy(f"{name} is held by another sender")
    try:
        yield
    finally:
        lock.release()


@contextlib.contextmanager
def _advisory_lock(engine: Engine, name: str, timeout: float) -> Iterator[None]:
    # Advisory locks take a bigint; 8 bytes of keccak make a collision between signers negligible.
    key = int.from_bytes(keccak(text=name)[:8], "big", signed=True)
    # AUTOCOMMIT: the lock is the session's, so no transaction stays open while it is held.
    connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        deadline = time.monotonic() + timeout
        while not connection.execute(select(func.pg_try_advisory_lock(key))).scalar_one():
            if time.monotonic() >= deadline:
                raise SignerBusy(f"{name} is held by another sender")
            time.sleep(LOCK_POLL_SECONDS)
        try:
            yield
        finally:
            connection.execute(select(func.pg_advisory_unlock(key)))
    except BaseException:
        # Never hand a connection that may still hold the lock back to the pool.
        connection.invalidate()
        raise
    finally:
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
