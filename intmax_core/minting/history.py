"""When each Minter action last happened, from everything that can know it.

Three sources, newest wins:

- the indexed `Minted` / `TransferredToLiquidity` rows of the `l1_minter` stream (anyone's calls,
  final blocks only);
- the `minter_actions` rows this pipeline recorded as done (its own calls, known as soon as mined,
  before the index's confirmation depth reaches them);
- the blocks above the stream's cursor, read directly with one eth_getLogs: a call someone else made
  minutes ago counts too.

A stale index is "unknown", never "no earlier action": when the stream has no cursor or its cursor
is further behind the head than allowed, nothing is decided (`IndexNotReady`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, desc, func, select
from sqlalchemy.engine import RowMapping

from intmax_core.chain.blocks import get_block_headers
from intmax_core.chain.events import MINTED, TRANSFERRED_TO_LIQUIDITY
from intmax_core.chain.rpc import RpcClient
from intmax_core.indexing import coverage
from intmax_core.minting.schedule import MinterAction
from intmax_core.warehouse.event_tables import EVENT_TABLES
from intmax_core.warehouse.minter_tables import OPEN_STATUSES, MinterActionStatus, minter_actions

MINTER_STREAM = "l1_minter"
EVENT_OF = {MinterAction.MINT: MINTED, MinterAction.TRANSFER_TO_LIQUIDITY: TRANSFERRED_TO_LIQUIDITY}
ACTION_OF_TOPIC = {event.topic0: action for action, event in EVENT_OF.items()}


class IndexNotReady(RuntimeError):
    """The Minter's events are not indexed close enough to the head to say when an action last happened."""


@dataclass(frozen=True)
class LastAction:
    at: datetime  # L1 block time (UTC)
    block_number: int
    tx_hash: str
    source: str  # "indexed event" | "recorded action" | "unindexed block"


def from_db(moment: datetime) -> datetime:
    """A stored time in UTC: SQLite hands back naive datetimes, which were written as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def last_indexed(connection: Connection, action: MinterAction, chain_id: int, minter: str) -> LastAction | None:
    table = EVENT_TABLES[EVENT_OF[action].name]
    row = connection.execute(
        select(table.c.block_time, table.c.block_number, table.c.tx_hash)
        .where(table.c.chain_id == chain_id, table.c.address == minter)
        .order_by(desc(table.c.block_number), desc(table.c.log_index))
        .limit(1)
    ).first()
    return None if row is None else LastAction(from_db(row.block_time), row.block_number, row.tx_hash, "indexed event")


def last_recorded(connection: Connection, action: MinterAction, chain_id: int, minter: str) -> LastAction | None:
    t = minter_actions.c
    row = connection.execute(
        select(t.block_time, t.block_number, t.tx_hash)
        .where(t.action == action.value, t.chain_id == chain_id, t.minter == minter)
        .where(t.status == MinterActionStatus.DONE.value, t.block_time.is_not(None))
        .order_by(desc(t.block_number))
        .limit(1)
    ).first()
    return (
        None if row is None else LastAction(from_db(row.block_time), row.block_number, row.tx_hash, "recorded action")
    )


def open_action(connection: Connection, action: MinterAction, chain_id: int, minter: str) -> RowMapping | None:
    """The newest row of `action` that is not done (pending, failed or parked): the next run resumes it."""
    t = minter_actions.c
    return (
        connection.execute(
            select(minter_actions)
            .where(t.action == action.value, t.chain_id == chain_id, t.minter == minter, t.status.in_(OPEN_STATUSES))
            .order_by(desc(t.id))
            .limit(1)
        )
        .mappings()
        .first()
    )


def action_counts(connection: Connection) -> dict[str, int]:
    """Rows per `action:status`, for metadata."""
    t = minter_actions.c
    rows = connection.execute(select(t.action, t.status, func.count()).group_by(t.action, t.status)).all()
    return {f"{action}:{status}": count for action, status, count in rows}


def indexed_up_to(connection: Connection, client: RpcClient, chain_id: int, max_lag_blocks: int) -> tuple[int, int]:
    """(the l1_minter cursor, the chain head); raises IndexNotReady when the cursor is missing or too far behind."""
    cursor = coverage.read_cursor(connection, MINTER_STREAM, chain_id)
    head = client.block_number()
    if cursor is None:
        raise IndexNotReady(f"the {MINTER_STREAM} stream has no cursor yet on chain {chain_id}: not indexed")
    lag = head - cursor.block_number
    if lag > max_lag_blocks:
        raise IndexNotReady(
            f"the {MINTER_STREAM} stream is {lag} blocks behind the head (more than {max_lag_blocks}, "
            "INTMAX_L1_CURSOR_LAG_ERROR_BLOCKS): an action it has not seen could be repeated"
        )
    return cursor.block_number, head


def unindexed_actions(client: RpcClient, minter: str, from_block: int, to_block: int) -> dict[MinterAction, LastAction]:
    """The newest Minted / TransferredToLiquidity of `minter` in [from_block, to_block], read from the node."""
    if from_block > to_block:
        return {}
    logs: list[dict[str, Any]] = client.call(
        "eth_getLogs",
        [
            {
                "address": minter,
                "topics": [list(ACTION_OF_TOPIC)],
                "fromBlock": hex(from_block),
                "toBlock": hex(to_block),
            }
        ],
    )
    newest: dict[MinterAction, dict[str, Any]] = {}
    for log in logs:
        if log.get("removed"):
            continue
        action = ACTION_OF_TOPIC.get(log["topics"][0].lower())
        if action is not None:
            newest[action] = log  # the node returns logs in chain order
    if not newest:
        return {}
    headers = get_block_headers(client, [int(log["blockNumber"], 16) for log in newest.values()])
    found = {}
    for action, log in newest.items():
        number = int(log["blockNumber"], 16)
        at = datetime.fromtimestamp(headers[number].timestamp, UTC)
        found[action] = LastAction(at, number, log["transactionHash"].lower(), "unindexed block")
    return found


def newest(*candidates: LastAction | None) -> LastAction | None:
    present = [c for c in candidates if c is not None]
    return max(present, key=lambda c: (c.block_number, c.at)) if present else None
