"""Keep the `deposits` table current from the event tables, incrementally or by a full rebuild.

An incremental run recomputes only the deposits that can differ from their stored row:
- ids in evt_deposited without a row (new deposits, and older ones a day backfill indexed late);
- rows whose status can still change (pending, relayed);
- rows that reference an event in the last `reorg_window_blocks` blocks below the stream's cursor:
  the indexer's reorg repair deletes rows above a common ancestor and moves the cursor back to it,
  so a rolled-back event is always that close to the cursor (unless the stream advanced more than
  the window before the next refresh: then run a full rebuild).
A deposit whose Deposited row is gone is deleted. Terminal rows outside the window are never read,
so a run costs a scan of the `deposits` status/block columns plus the work on the few open rows.
Everything happens in one transaction, and a row is rewritten only when a value differs, so a
repeated run changes nothing (updated_at included).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, insert, or_, select

from intmax_core.deposits.lifecycle import Relay, RelayIndex, computed_hash, derive_row
from intmax_core.warehouse.deposits_tables import OPEN_STATUSES, deposits
from intmax_core.warehouse.event_tables import EVENT_TABLES
from intmax_core.warehouse.schema import stream_cursors
from intmax_core.warehouse.types import utc

DEPOSITED = EVENT_TABLES["Deposited"]
RELAYED = EVENT_TABLES["DepositsRelayed"]
CANCELED = EVENT_TABLES["DepositCanceled"]
LEAF = EVENT_TABLES["DepositLeafInserted"]
L1_STREAM, L2_STREAM = "l1_liquidity", "l2_rollup"
DEFAULT_REORG_WINDOW_BLOCKS = 10_000
# Bind parameters per IN (...) list: well below SQLite's 32,766 and PostgreSQL's 65,535.
CHUNK = 2_000
# Arbitrary constant key of the PostgreSQL advisory lock that serialises refreshes.
LOCK_KEY = 0x1D_E905_17


@dataclass(frozen=True)
class RefreshStats:
    examined: int
    written: int
    deleted: int


def refresh_deposits(
    connection: Connection, *, full: bool = False, reorg_window_blocks: int = DEFAULT_REORG_WINDOW_BLOCKS
) -> RefreshStats:
    """Bring `deposits` up to date; call inside a transaction (the caller commits)."""
    if connection.dialect.name == "postgresql":
        # Two concurrent refreshes would insert the same new ids; the second waits for the first.
        connection.execute(select(func.pg_advisory_xact_lock(LOCK_KEY)))
    ids = _all_ids(connection) if full else _ids_to_recompute(connection, reorg_window_blocks)
    written = deleted = 0
    for chunk in _chunks(sorted(ids)):
        w, d = _recompute(connection, chunk)
        written, deleted = written + w, deleted + d
    return RefreshStats(examined=len(ids), written=written, deleted=deleted)


def _all_ids(connection: Connection) -> set[int]:
    return set(connection.execute(select(DEPOSITED.c.deposit_id)).scalars()) | set(
        connection.execute(select(deposits.c.deposit_id)).scalars()
    )


def _horizon(connection: Connection, stream: str, window: int) -> int:
    cursor = connection.execute(
        select(func.min(stream_cursors.c.block_number)).where(stream_cursors.c.stream == stream)
    ).scalar()
    return 0 if cursor is None else max(0, cursor - window)


def _ids_to_recompute(connection: Connection, window: int) -> set[int]:
    l1, l2 = _horizon(connection, L1_STREAM, window), _horizon(connection, L2_STREAM, window)
    c = deposits.c
    stored = select(c.deposit_id).where(
        or_(
            c.status.in_(OPEN_STATUSES),
            c.deposit_block_number >= l1,
            c.relay_block_number >= l1,
            c.cancel_block_number >= l1,
            c.processed_block_number >= l2,
        )
    )
    missing = (
        select(DEPOSITED.c.deposit_id)
        .outerjoin(deposits, deposits.c.deposit_id == DEPOSITED.c.deposit_id)
        .where(deposits.c.deposit_id.is_(None))
    )
    return set(connection.execute(stored).scalars()) | set(connection.execute(missing).scalars())


def _recompute(connection: Connection, ids: Sequence[int]) -> tuple[int, int]:
    deposited = _first_by(connection, DEPOSITED, DEPOSITED.c.deposit_id.in_(ids), "deposit_id")
    cancels = _first_by(connection, CANCELED, CANCELED.c.deposit_id.in_(ids), "deposit_id")
    relays = RelayIndex(_relays_covering(connection, min(ids), max(ids)))
    hashes = {deposit_id: computed_hash(row) for deposit_id, row in deposited.items()}
    leaves = _first_by(connection, LEAF, LEAF.c.deposit_hash.in_(list(hashes.values())), "deposit_hash")
    wanted = {
        deposit_id: derive_row(
            row, relays.covering(deposit_id), cancels.get(deposit_id), leaves.get(hashes[deposit_id])
        )
        for deposit_id, row in deposited.items()
    }
    stored = {
        row["deposit_id"]: _comparable(row)
        for row in connection.execute(select(deposits).where(deposits.c.deposit_id.in_(ids))).mappings()
    }
    gone = [deposit_id for deposit_id in stored if deposit_id not in wanted]
    changed = [row for deposit_id, row in wanted.items() if stored.get(deposit_id) != row]
    stale = gone + [row["deposit_id"] for row in changed if row["deposit_id"] in stored]
    if stale:
        connection.execute(delete(deposits).where(deposits.c.deposit_id.in_(stale)))
    if changed:
        # updated_at is left to the column's default (now()), so it moves only when a value changed.
        connection.execute(insert(deposits), changed)
    return len(changed), len(gone)


def _relays_covering(connection: Connection, low: int, high: int) -> list[Relay]:
    """The relays that can be the first to cover an id in low..high: up_to from low to the first >= high."""
    up_to = RELAYED.c.up_to_deposit_id
    ceiling = connection.execute(select(func.min(up_to)).where(up_to >= high)).scalar()
    query = select(up_to, RELAYED.c.tx_hash, RELAYED.c.block_number, RELAYED.c.block_time).where(up_to >= low)
    if ceiling is not None:
        query = query.where(up_to <= ceiling)
    return [Relay(r.up_to_deposit_id, r.tx_hash, r.block_number, r.block_time) for r in connection.execute(query)]


def _first_by(connection: Connection, table: Any, where: Any, key: str) -> dict[Any, dict[str, Any]]:
    """Rows matching `where`, the chain-first one per `key` (a hash or id is expected at most once)."""
    rows: dict[Any, dict[str, Any]] = {}
    query = select(table).where(where).order_by(table.c.block_number.desc(), table.c.log_index.desc())
    for row in connection.execute(query).mappings():
        rows[row[key]] = dict(row)  # later (older) rows overwrite: the earliest wins
    return rows


def _comparable(row: Any) -> dict[str, Any]:
    values = {k: v for k, v in row.items() if k != "updated_at"}
    for column in ("deposited_at", "relayed_at", "processed_at"):
        values[column] = utc(values[column])
    return values


def _chunks(ids: Iterable[int]) -> Iterator[list[int]]:
    batch: list[int] = []
    for deposit_id in ids:
        batch.append(deposit_id)
        if len(batch) == CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch
