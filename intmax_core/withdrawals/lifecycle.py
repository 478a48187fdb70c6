"""A withdrawal's lifecycle as the warehouse knows it, for the lifecycle API.

The request (the withdrawal-server's row, never its proof), the group that carried it (the latest
membership), the L2 queue event of its submission, and the L1 events that paid it or made it
claimable and claimed. Everything comes from chain data and the aggregator's own tables, so every
status can be explained: `relayed` by an L2 queue event, `success`/`need_claim` by L1 events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select, tuple_

from intmax_core.warehouse.aggregator_tables import withdrawal_group_members, withdrawal_groups
from intmax_core.warehouse.event_tables import EVENT_TABLES
from intmax_core.warehouse.schema import withdrawals
from intmax_core.warehouse.tokens_tables import token_maps
from intmax_core.warehouse.types import utc

L2_QUEUE_EVENTS = ("DirectWithdrawalQueued", "ClaimableWithdrawalQueued")
L1_EVENTS = ("DirectWithdrawalSuccessed", "WithdrawalClaimable", "ClaimedWithdrawal")
REQUEST_COLUMNS = (
    withdrawals.c.withdrawal_hash,
    withdrawals.c.status,
    withdrawals.c.recipient,
    withdrawals.c.contract_withdrawal,
    withdrawals.c.l1_tx_hash,
    withdrawals.c.created_at,
)


class UnknownCursor(ValueError):
    """The cursor names no withdrawal of this recipient."""


@dataclass(frozen=True)
class ChainEvent:
    name: str
    tx_hash: str
    block_number: int
    time: datetime | None


@dataclass
class WithdrawalLifecycle:
    withdrawal_hash: str
    status: str
    recipient: str
    token_index: int
    amount: int
    created_at: datetime | None
    l1_tx_hash: str | None
    token_symbol: str | None = None
    token_decimals: int | None = None
    group: dict[str, Any] | None = None
    l2_submission: ChainEvent | None = None
    l1_events: list[ChainEvent] = field(default_factory=list)


def _lifecycle(row: Row[Any]) -> WithdrawalLifecycle:
    contract = row.contract_withdrawal or {}
    return WithdrawalLifecycle(
        withdrawal_hash=row.withdrawal_hash,
        status=str(getattr(row.status, "value", row.status)),
        recipient=row.recipient,
        token_index=int(contract.get("tokenIndex", 0)),
        amount=int(contract.get("amount", 0)),
        created_at=utc(row.created_at),
        l1_tx_hash=row.l1_tx_hash,
    )


def _events(connection: Connection, names: tuple[str, ...], hashes: list[str]) -> dict[str, list[ChainEvent]]:
    found: dict[str, list[ChainEvent]] = {}
    for name in names:
        table = EVENT_TABLES[name]
        query = select(table.c.withdrawal_hash, table.c.tx_hash, table.c.block_number, table.c.block_time).where(
            table.c.withdrawal_hash.in_(hashes)
        )
        for r in connection.execute(query):
            found.setdefault(r.withdrawal_hash, []).append(
                ChainEvent(name, r.tx_hash, r.block_number, utc(r.block_time))
            )
    for events in found.values():
        events.sort(key=lambda e: e.block_number)
    return found


def complete(connection: Connection, rows: list[Row[Any]]) -> list[WithdrawalLifecycle]:
    """Lifecycles of `rows` (request columns), with groups, chain events and token metadata."""
    items = [_lifecycle(row) for row in rows]
    hashes = [item.withdrawal_hash for item in items]
    if not hashes:
        return items
    m, g = withdrawal_group_members, withdrawal_groups
    groups: dict[str, dict[str, Any]] = {}
    memberships = connection.execute(
        select(m.c.withdrawal_hash, m.c.position, m.c.released_at, g.c.group_id, g.c.status, g.c.created_at)
        .join(g, g.c.group_id == m.c.group_id)
        .where(m.c.withdrawal_hash.in_(hashes))
        .order_by(g.c.created_at)
    )
    for r in memberships:  # the latest membership wins
        groups[r.withdrawal_hash] = {"groupId": r.group_id, "status": r.status, "position": r.position}
    queued = _events(connection, L2_QUEUE_EVENTS, hashes)
    paid = _events(connection, L1_EVENTS, hashes)
    indexes = {item.token_index for item in items}
    tokens = {
        r.token_index: r
        for r in connection.execute(
            select(token_maps.c.token_index, token_maps.c.symbol, token_maps.c.decimals).where(
                token_maps.c.token_index.in_(indexes), token_maps.c.resolved_at.is_not(None)
            )
        )
    }
    for item in items:
        item.group = groups.get(item.withdrawal_hash)
        item.l2_submission = (queued.get(item.withdrawal_hash) or [None])[0]
        item.l1_events = paid.get(item.withdrawal_hash, [])
        token = tokens.get(item.token_index)
        if token is not None:
            item.token_symbol, item.token_decimals = token.symbol, token.decimals
    return items


def by_hash(connection: Connection, withdrawal_hash: str) -> WithdrawalLifecycle | None:
    row = connection.execute(select(*REQUEST_COLUMNS).where(withdrawals.c.withdrawal_hash == withdrawal_hash)).first()
    return None if row is None else complete(connection, [row])[0]


def of_recipient(
    connection: Connection, recipient: str, limit: int, after_hash: str | None
) -> tuple[list[WithdrawalLifecycle], bool]:
    """A recipient's withdrawals, newest first (created_at, then hash), after the cursor's withdrawal."""
    query = select(*REQUEST_COLUMNS).where(withdrawals.c.recipient == recipient)
    if after_hash is not None:
        anchor = connection.execute(
            select(withdrawals.c.created_at).where(
                withdrawals.c.withdrawal_hash == after_hash, withdrawals.c.recipient == recipient
            )
        ).scalar()
        if anchor is None:
            raise UnknownCursor(after_hash)
        query = query.where(
            tuple_(withdrawals.c.created_at, withdrawals.c.withdrawal_hash) < tuple_(anchor, after_hash)
        )
    rows = list(
        connection.execute(
            query.order_by(withdrawals.c.created_at.desc(), withdrawals.c.withdrawal_hash.desc()).limit(limit + 1)
        )
    )
    return complete(connection, rows[:limit]), len(rows) > limit
