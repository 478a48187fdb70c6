"""The collector: claim requested withdrawals into groups, in the database, exactly once.

One collection is one transaction that first takes the collector lock (a transaction-level
advisory lock on PostgreSQL; SQLite's write lock), so collectors run one after another; and a
partial unique index lets a withdrawal have only one unreleased group membership, so even a
collector that bypassed the lock could not put it in two live groups. Nothing expires: a group
holds its members until it ends (docs: the originals' Redis keys with a 30-minute TTL let a slow
job's withdrawals be grouped twice).

Candidates are the `requested` withdrawals without a live membership, oldest first
(`created_at, withdrawal_hash`: a total, deterministic order), read with a LIMIT through the
(status, created_at) index. Collection happens when at least `min_batch_size` wait or the oldest
has waited `min_wait`; then they are cut into groups of `group_size` in that order, every chunk
included (the last may be short), at most `max_groups` per transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from eth_hash.auto import keccak
from sqlalchemy import Connection, and_, exists, false, func, insert, select, text, update

from intmax_core.warehouse.aggregator_tables import GroupStatus, withdrawal_group_members, withdrawal_groups
from intmax_core.warehouse.schema import WithdrawalStatus, withdrawals
from intmax_core.warehouse.types import utc

MAX_GROUP_SIZE = 100  # Withdrawal's per-submission limit (its RELAY_LIMIT)
DEFAULT_MAX_GROUPS = 20
LOCK_KEY = int.from_bytes(keccak(b"intmax-withdrawal-collector")[:8], "big", signed=True)


@dataclass(frozen=True)
class CollectorPolicy:
    min_batch_size: int
    min_wait: timedelta
    group_size: int
    max_groups: int = DEFAULT_MAX_GROUPS

    def __post_init__(self) -> None:
        if not 1 <= self.group_size <= MAX_GROUP_SIZE:
            raise ValueError(f"group size must be 1..{MAX_GROUP_SIZE}")


@dataclass(frozen=True)
class Backlog:
    waiting: int  # unclaimed requested withdrawals, counted up to the read's limit
    oldest_created_at: datetime | None
    oldest_hash: str | None

    def due(self, policy: CollectorPolicy, now: datetime) -> str | None:
        """Why a collection is due now (None: not due)."""
        if self.waiting == 0 or self.oldest_created_at is None:
            return None
        if self.waiting >= policy.min_batch_size:
            return f"{self.waiting} withdrawals waiting (threshold {policy.min_batch_size})"
        waited = now - self.oldest_created_at
        if waited >= policy.min_wait:
            return f"the oldest of {self.waiting} has waited {waited.total_seconds():.0f} s"
        return None


@dataclass(frozen=True)
class NewGroup:
    group_id: str
    withdrawal_hashes: list[str]


def _unclaimed_requested():  # type: ignore[no-untyped-def]
    live = withdrawal_group_members
    claimed = exists().where(
        and_(live.c.withdrawal_hash == withdrawals.c.withdrawal_hash, live.c.released_at.is_(None))
    )
    return (
        select(withdrawals.c.withdrawal_hash, withdrawals.c.created_at)
        .where(withdrawals.c.status == WithdrawalStatus.REQUESTED, ~claimed)
        .order_by(withdrawals.c.created_at, withdrawals.c.withdrawal_hash)
    )


def read_backlog(connection: Connection, limit: int) -> Backlog:
    rows = connection.execute(_unclaimed_requested().limit(limit)).all()
    if not rows:
        return Backlog(0, None, None)
    return Backlog(len(rows), utc(rows[0].created_at), rows[0].withdrawal_hash)


def lock_collector(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(select(func.pg_advisory_xact_lock(LOCK_KEY)))
    else:  # a write that matches nothing takes SQLite's write lock at once
        connection.execute(update(withdrawal_groups).where(false()).values(status=withdrawal_groups.c.status))


def collect(connection: Connection, policy: CollectorPolicy, now: datetime) -> list[NewGroup]:
    """Form the groups that are due; call inside a transaction (the caller commits)."""
    lock_collector(connection)
    rows = connection.execute(_unclaimed_requested().limit(policy.group_size * policy.max_groups)).all()
    backlog = Backlog(len(rows), utc(rows[0].created_at) if rows else None, rows[0].withdrawal_hash if rows else None)
    if backlog.due(policy, now) is None:
        return []
    hashes = [row.withdrawal_hash for row in rows]
    groups = [
        NewGroup(str(uuid.uuid4()), hashes[start : start + policy.group_size])
        for start in range(0, len(hashes), policy.group_size)
    ]
    connection.execute(
        insert(withdrawal_groups),
        [
            {"group_id": g.group_id, "status": GroupStatus.COLLECTED.value, "member_count": len(g.withdrawal_hashes)}
            for g in groups
        ],
    )
    connection.execute(
        insert(withdrawal_group_members),
        [
            {"group_id": g.group_id, "position": position, "withdrawal_hash": h}
            for g in groups
            for position, h in enumerate(g.withdrawal_hashes)
        ],
    )
    if connection.dialect.name == "postgresql":
        # Until autovacuum first analyzes the members, PostgreSQL believes the table nearly empty and
        # answers the NOT EXISTS above by scanning every member for every candidate (a burst of 10,000
        # requests took 10 s to group instead of 0.3 s, benchmarks/withdrawals.py). Fresh statistics
        # after each collection keep the plan on the live-membership index; ANALYZE samples, so this
        # stays cheap as the table grows.
        connection.execute(text("ANALYZE withdrawal_group_members"))
    return groups
