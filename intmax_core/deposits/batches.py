"""Keep the `deposit_batches` table equal to what the event tables and the ledger say.

A batch is a `DepositsRelayed` on L1: it relays every queued id after the previous batch up to
its `upToDepositId`, and its message (processDeposits(upTo, hashes)) says how many hashes it
carried. It is processed once the Rollup emits `DepositsProcessed` with that id as its last.
Batches are few (one per relay, at most 450 deposits each), so every refresh recomputes them all
from the events and rewrites only the rows that differ: idempotent, and reorg-safe because the
event tables are (a rolled-back event makes its batch change or disappear here too).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eth_abi import decode
from sqlalchemy import Connection, delete, func, insert, select

from intmax_core.deposits.relayer import PURPOSE
from intmax_core.warehouse.deposits_tables import deposit_batches
from intmax_core.warehouse.event_tables import EVENT_TABLES
from intmax_core.warehouse.ledger import transactions
from intmax_core.warehouse.types import utc

RELAYED = EVENT_TABLES["DepositsRelayed"]
PROCESSED = EVENT_TABLES["DepositsProcessed"]
DEPOSITED = EVENT_TABLES["Deposited"]
PROCESS_DEPOSITS = bytes.fromhex("f03efa37")  # Rollup.processDeposits(uint256,bytes32[])
# Arbitrary constant key of the PostgreSQL advisory lock that serialises refreshes.
LOCK_KEY = 0x1D_E905_18


@dataclass(frozen=True)
class BatchStats:
    batches: int
    written: int
    deleted: int


def hashes_in(message: bytes) -> int:
    """How many deposit hashes a relayed processDeposits message carries."""
    if message[:4] != PROCESS_DEPOSITS:
        raise ValueError("a DepositsRelayed message that is not processDeposits")
    _up_to, hashes = decode(["uint256", "bytes32[]"], bytes(message[4:]))
    return len(hashes)


def _seconds(later: datetime | None, earlier: datetime | None) -> float | None:
    return None if later is None or earlier is None else (later - earlier).total_seconds()


def derive_batches(connection: Connection) -> dict[int, dict[str, Any]]:
    relays = connection.execute(
        select(RELAYED).order_by(RELAYED.c.up_to_deposit_id, RELAYED.c.block_number, RELAYED.c.log_index)
    ).mappings()
    processed: dict[int, Any] = {}
    # Earliest first wins: iterate newest first and let older rows overwrite.
    for row in connection.execute(
        select(PROCESSED).order_by(PROCESSED.c.block_number.desc(), PROCESSED.c.log_index.desc())
    ).mappings():
        processed[row["last_processed_deposit_id"]] = row
    ledger = dict(
        connection.execute(
            select(transactions.c.tx_hash, transactions.c.id).where(
                transactions.c.purpose == PURPOSE, transactions.c.tx_hash.is_not(None)
            )
        ).all()
    )
    batches: dict[int, dict[str, Any]] = {}
    previous = 0
    for relay in relays:
        up_to = relay["up_to_deposit_id"]
        if up_to in batches:
            continue  # the contract never relays an id twice; an index holding it twice keeps the first
        oldest = utc(
            connection.execute(
                select(func.min(DEPOSITED.c.block_time)).where(DEPOSITED.c.deposit_id.between(previous + 1, up_to))
            ).scalar()
        )
        relayed_at = utc(relay["block_time"])
        done = processed.get(up_to)
        processed_at = utc(done["block_time"]) if done else None
        batches[up_to] = {
            "up_to_deposit_id": up_to,
            "first_deposit_id": previous + 1,
            "deposit_count": hashes_in(relay["message"]),
            "gas_limit": int(relay["gas_limit"]),
            "relay_tx_hash": relay["tx_hash"],
            "relay_block_number": relay["block_number"],
            "relayed_at": relayed_at,
            "ledger_transaction_id": ledger.get(relay["tx_hash"]),
            "oldest_deposited_at": oldest,
            "relay_wait_seconds": _seconds(relayed_at, oldest),
            "processed_tx_hash": done["tx_hash"] if done else None,
            "processed_block_number": done["block_number"] if done else None,
            "processed_at": processed_at,
            "deposit_tree_root": done["deposit_tree_root"] if done else None,
            "processing_seconds": _seconds(processed_at, relayed_at),
        }
        previous = up_to
    return batches


def refresh_deposit_batches(connection: Connection) -> BatchStats:
    """Bring `deposit_batches` up to date; call inside a transaction (the caller commits)."""
    if connection.dialect.name == "postgresql":
        connection.execute(select(func.pg_advisory_xact_lock(LOCK_KEY)))
    wanted = derive_batches(connection)
    stored = {}
    for row in connection.execute(select(deposit_batches)).mappings():
        values = {k: v for k, v in row.items() if k != "updated_at"}
        for column in ("relayed_at", "oldest_deposited_at", "processed_at"):
            values[column] = utc(values[column])
        stored[row["up_to_deposit_id"]] = values
    gone = [up_to for up_to in stored if up_to not in wanted]
    changed = [row for up_to, row in wanted.items() if stored.get(up_to) != row]
    stale = gone + [row["up_to_deposit_id"] for row in changed if row["up_to_deposit_id"] in stored]
    if stale:
        connection.execute(delete(deposit_batches).where(deposit_batches.c.up_to_deposit_id.in_(stale)))
    if changed:
        connection.execute(insert(deposit_batches), changed)
    return BatchStats(batches=len(wanted), written=len(changed), deleted=len(gone))


def unprocessed_batches(connection: Connection, relayed_before: datetime) -> list[int]:
    """Up-to ids of batches relayed before `relayed_before` that L2 has not processed (oldest first)."""
    query = (
        select(deposit_batches.c.up_to_deposit_id)
        .where(deposit_batches.c.processed_tx_hash.is_(None), deposit_batches.c.relayed_at < relayed_before)
        .order_by(deposit_batches.c.up_to_deposit_id)
    )
    return list(connection.execute(query).scalars())
