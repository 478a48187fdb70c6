"""What the withdrawal checks verify: every status explainable by chain data, nothing stuck.

Each audit returns how many rows break the rule and a few examples, read with bounded queries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, and_, exists, func, or_, select

from intmax_core.warehouse.aggregator_tables import GroupStatus, withdrawal_group_members, withdrawal_groups
from intmax_core.warehouse.event_tables import EVENT_TABLES
from intmax_core.warehouse.schema import WithdrawalStatus, withdrawals

EXAMPLES = 10
QUEUED = (EVENT_TABLES["DirectWithdrawalQueued"], EVENT_TABLES["ClaimableWithdrawalQueued"])
PAID = EVENT_TABLES["DirectWithdrawalSuccessed"]
CLAIMABLE = EVENT_TABLES["WithdrawalClaimable"]
CLAIMED = EVENT_TABLES["ClaimedWithdrawal"]


@dataclass(frozen=True)
class Finding:
    count: int
    examples: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.count == 0


def _has_event(table, column) -> object:  # type: ignore[no-untyped-def]
    return exists().where(table.c.withdrawal_hash == column)


def _finding(connection: Connection, query) -> Finding:  # type: ignore[no-untyped-def]
    count = connection.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    examples = list(connection.execute(query.limit(EXAMPLES)).scalars()) if count else []
    return Finding(count, examples)


def requested_older_than(connection: Connection, before: datetime) -> Finding:
    """`requested` withdrawals created before `before`: the aggregator is not keeping up."""
    query = (
        select(withdrawals.c.withdrawal_hash)
        .where(withdrawals.c.status == WithdrawalStatus.REQUESTED, withdrawals.c.created_at < before)
        .order_by(withdrawals.c.created_at)
    )
    return _finding(connection, query)


def success_without_l1_event(connection: Connection) -> Finding:
    """`success` rows with neither DirectWithdrawalSuccessed nor ClaimedWithdrawal indexed."""
    w = withdrawals.c.withdrawal_hash
    query = (
        select(w)
        .where(withdrawals.c.status == WithdrawalStatus.SUCCESS, ~_has_event(PAID, w), ~_has_event(CLAIMED, w))
        .order_by(w)
    )
    return _finding(connection, query)


def relayed_without_l1_event(connection: Connection, queued_before: datetime) -> Finding:
    """`relayed` rows whose L2 queue event is older than `queued_before` and that no L1 event followed."""
    w = withdrawals.c.withdrawal_hash
    old_queue = or_(*(exists().where(and_(t.c.withdrawal_hash == w, t.c.block_time < queued_before)) for t in QUEUED))
    query = (
        select(w)
        .where(
            withdrawals.c.status == WithdrawalStatus.RELAYED,
            old_queue,
            ~_has_event(PAID, w),
            ~_has_event(CLAIMABLE, w),
        )
        .order_by(w)
    )
    return _finding(connection, query)


def groups_stuck(connection: Connection, updated_before: datetime) -> Finding:
    """Live groups (proving, submitting) not updated since `updated_before`: past their proving budget."""
    g = withdrawal_groups
    query = (
        select(g.c.group_id)
        .where(
            g.c.status.in_((GroupStatus.PROVING.value, GroupStatus.SUBMITTING.value)), g.c.updated_at < updated_before
        )
        .order_by(g.c.updated_at)
    )
    return _finding(connection, query)


def submitted_members_not_queued(connection: Connection) -> Finding:
    """Members of submitted groups with no L2 queue event in the group's transaction (once it is indexed)."""
    g, m = withdrawal_groups, withdrawal_group_members
    in_tx = or_(
        *(
            exists().where(and_(t.c.withdrawal_hash == m.c.withdrawal_hash, t.c.tx_hash == g.c.l2_tx_hash))
            for t in QUEUED
        )
    )
    # Only groups whose transaction the L2 index has reached: some queue event of that tx exists.
    indexed = or_(*(exists().where(t.c.tx_hash == g.c.l2_tx_hash) for t in QUEUED))
    query = (
        select(m.c.withdrawal_hash)
        .join(g, g.c.group_id == m.c.group_id)
        .where(g.c.status == GroupStatus.SUBMITTED.value, indexed, ~in_tx)
        .order_by(m.c.withdrawal_hash)
    )
    return _finding(connection, query)
