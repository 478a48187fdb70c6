"""The pipeline's state as the /metrics gauges show it: a few small reads of the warehouse.

`read_pipeline_bounded(engine, seconds)` reads, in two statements that use indexes or tiny tables:

- per stream (`stream_cursors`): the last block fully indexed, when that cursor was last written,
  and the newest block any stream of the same chain has indexed (`stream_ranges`). The chain head
  itself is not in the warehouse (the indexing runs read it from the node and keep only what they
  index), so the lag is measured against that newest indexed block: a stream behind its sibling
  streams shows a lag, and an indexer that stopped altogether shows in the cursor's age instead;
- deposits with status `pending`;
- withdrawals with status `requested`, and when the oldest of them was requested;
- block builders judged inactive (`active` false; never judged yet, NULL, is not counted).

Each read is bounded, so a scrape never hangs on the warehouse: PostgreSQL gets a statement
timeout per statement (and the engine from `pipeline_engine` a short connect timeout), SQLite a
busy timeout and a progress handler that interrupts the read at the deadline.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, false, func, select, text
from sqlalchemy.pool import NullPool

from intmax_core.warehouse.builders_tables import block_builders
from intmax_core.warehouse.deposits_tables import DepositStatus, deposits
from intmax_core.warehouse.engine import make_engine
from intmax_core.warehouse.schema import WithdrawalStatus, stream_cursors, stream_ranges, withdrawals

# libpq takes a connect_timeout below 2 s as 2 s: the shortest connect bound there is.
CONNECT_TIMEOUT_SECONDS = 2
# How often (SQLite virtual-machine instructions) the progress handler looks at the clock.
SQLITE_PROGRESS_STEPS = 1_000


@dataclass(frozen=True)
class StreamProgress:
    stream: str
    chain_id: int
    cursor_block: int
    cursor_updated_at: datetime
    newest_block_on_chain: int

    @property
    def lag_blocks(self) -> int:
        return max(0, self.newest_block_on_chain - self.cursor_block)


@dataclass(frozen=True)
class PipelineReading:
    streams: tuple[StreamProgress, ...]
    pending_deposits: int
    requested_withdrawals: int
    oldest_requested_withdrawal_at: datetime | None
    inactive_builders: int


def pipeline_engine(url: str, seconds: float) -> Engine:
    """An engine for the scrape only: no pool (a pooled connection to a vanished server would be
    checked without a deadline), short connect and busy timeouts."""
    return make_engine(
        url,
        sqlite_busy_timeout_ms=max(1, int(seconds * 1000)),
        postgres_connect_timeout_seconds=CONNECT_TIMEOUT_SECONDS,
        poolclass=NullPool,
    )


def utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; the warehouse stores UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def read_pipeline(connection: Connection) -> PipelineReading:
    newest = (
        select(stream_ranges.c.chain_id, func.max(stream_ranges.c.to_block).label("newest_block"))
        .group_by(stream_ranges.c.chain_id)
        .subquery()
    )
    rows = connection.execute(
        select(
            stream_cursors.c.stream,
            stream_cursors.c.chain_id,
            stream_cursors.c.block_number,
            stream_cursors.c.updated_at,
            newest.c.newest_block,
        )
        .select_from(stream_cursors.outerjoin(newest, newest.c.chain_id == stream_cursors.c.chain_id))
        .order_by(stream_cursors.c.chain_id, stream_cursors.c.stream)
    ).all()
    # A cursor is the end of an indexed range, so the ranges' maximum covers it; max() still guards
    # against ranges pruned under a cursor.
    newest_by_chain: dict[int, int] = {}
    for row in rows:
        seen = max(row.block_number, row.newest_block or 0)
        newest_by_chain[row.chain_id] = max(newest_by_chain.get(row.chain_id, 0), seen)
    streams = tuple(
        StreamProgress(row.stream, row.chain_id, row.block_number, utc(row.updated_at), newest_by_chain[row.chain_id])
        for row in rows
    )
    requested = withdrawals.c.status == WithdrawalStatus.REQUESTED
    counts = connection.execute(
        select(
            select(func.count())
            .select_from(deposits)
            .where(deposits.c.status == DepositStatus.PENDING.value)
            .scalar_subquery()
            .label("pending_deposits"),
            select(func.count()).select_from(withdrawals).where(requested).scalar_subquery().label("requested"),
            select(func.min(withdrawals.c.created_at)).where(requested).scalar_subquery().label("oldest"),
            select(func.count())
            .select_from(block_builders)
            .where(block_builders.c.active == false())
            .scalar_subquery()
            .label("inactive_builders"),
        )
    ).one()
    return PipelineReading(
        streams=streams,
        pending_deposits=int(counts.pending_deposits),
        requested_withdrawals=int(counts.requested),
        oldest_requested_withdrawal_at=utc(counts.oldest) if counts.oldest else None,
        inactive_builders=int(counts.inactive_builders),
    )


def read_pipeline_bounded(engine: Engine, seconds: float) -> PipelineReading:
    """`read_pipeline` that gives up after about `seconds` per statement (raises the driver's error)."""
    deadline = time.monotonic() + seconds
    milliseconds = max(1, int(seconds * 1000))
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            # Local to this transaction; the connection is not pooled anyway.
            connection.execute(text("SELECT set_config('statement_timeout', :ms, true)"), {"ms": str(milliseconds)})
            return read_pipeline(connection)
        raw = connection.connection.driver_connection
        assert isinstance(raw, sqlite3.Connection)
        raw.set_progress_handler(lambda: time.monotonic() > deadline, SQLITE_PROGRESS_STEPS)
        try:
            return read_pipeline(connection)
        finally:
            raw.set_progress_handler(None, 0)
