"""Coverage and cursor under concurrent writers: the per-stream lock and the cursor walk."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError

from intmax_core.indexing import coverage
from intmax_core.indexing.coverage import BlockRange
from intmax_core.warehouse.engine import make_engine
from intmax_core.warehouse.migrate import upgrade
from intmax_core.warehouse.schema import stream_ranges

STREAM, CHAIN_ID, START = "l1_liquidity", 1, 100


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    yield engine
    engine.dispose()


def _write(connection: Connection, indexed: BlockRange) -> None:
    """What a chunk transaction does to the coverage (rows aside)."""
    coverage.lock_stream(connection, STREAM, CHAIN_ID)
    coverage.add_range(connection, STREAM, CHAIN_ID, indexed)
    coverage.refresh_cursor(connection, STREAM, CHAIN_ID, START)


def _waiting_on_a_lock(engine: Engine, pid: int) -> bool:
    with engine.connect() as connection:
        query = text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid")
        return connection.execute(query, {"pid": pid}).scalar() == "Lock"


def test_adjacent_chunks_committed_concurrently_merge(engine: Engine) -> None:
    """[100,200] and [201,300] written by two interleaved transactions: one range, cursor at 300.

    Without the lock, each transaction misses the other's uncommitted range: two ranges stay,
    and the cursor stops at 200 for good."""
    first = engine.connect()
    first.begin()
    _write(first, BlockRange(100, 200, "0x" + "01" * 32))  # not committed yet

    second_pid: list[int] = []
    errors: list[BaseException] = []

    def second_writer() -> None:
        try:
            with engine.begin() as connection:
                second_pid.append(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())
                _write(connection, BlockRange(201, 300, "0x" + "02" * 32))
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    thread = threading.Thread(target=second_writer)
    thread.start()
    # The second writer either waits for the first (the fix) or runs through (the defect).
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and thread.is_alive():
        if second_pid and _waiting_on_a_lock(engine, second_pid[0]):
            break
        time.sleep(0.01)
    first.commit()
    first.close()
    thread.join(timeout=10)
    assert not errors, errors

    with engine.connect() as connection:
        ranges = coverage.covered_ranges(connection, STREAM, CHAIN_ID)
        cursor = coverage.read_cursor(connection, STREAM, CHAIN_ID)
    assert [(r.from_block, r.to_block) for r in ranges] == [(100, 300)]
    assert cursor == coverage.Cursor(300, "0x" + "02" * 32)


def test_other_streams_are_not_blocked(engine: Engine) -> None:
    with engine.connect() as holder:
        holder.begin()
        coverage.lock_stream(holder, STREAM, CHAIN_ID)
        with engine.connect() as other, other.begin():
            other.execute(text("SET LOCAL lock_timeout = '1s'"))
            coverage.lock_stream(other, "l2_rollup", CHAIN_ID)  # fails with a lock timeout if it were the same lock
            other.execute(text("SET LOCAL lock_timeout = '200ms'"))
            with pytest.raises(OperationalError, match="lock timeout"), other.begin_nested():
                coverage.lock_stream(other, STREAM, CHAIN_ID)  # the same stream: held by `holder`
        holder.rollback()


def test_cursor_walks_every_touching_range_from_the_start(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Ranges that overlap or touch but were never merged (written before the lock) still move the
    cursor to the end of the contiguous coverage; a range beyond a hole does not."""
    url = f"sqlite:///{tmp_path / 'w.db'}"
    upgrade(url)
    engine = make_engine(url)
    pieces = [(100, 200, "0xa"), (150, 260, "0xb"), (261, 300, "0xc"), (400, 500, "0xd")]
    with engine.begin() as connection:
        for from_block, to_block, hash_ in pieces:
            connection.execute(
                stream_ranges.insert().values(
                    stream=STREAM, chain_id=CHAIN_ID, from_block=from_block, to_block=to_block, to_block_hash=hash_
                )
            )
        assert coverage.refresh_cursor(connection, STREAM, CHAIN_ID, START) == coverage.Cursor(300, "0xc")
        assert coverage.read_cursor(connection, STREAM, CHAIN_ID) == coverage.Cursor(300, "0xc")
        # Block 99 was never indexed: a stream starting there has no cursor yet.
        assert coverage.refresh_cursor(connection, STREAM, CHAIN_ID, 99) is None
        assert coverage.read_cursor(connection, STREAM, CHAIN_ID) is None
    engine.dispose()
