"""The withdrawal aggregator's own tables: groups of withdrawals and their members.

The withdrawal-server's `withdrawals` table keeps its production schema; what the aggregator
knows beyond a status (which group a withdrawal is in, at which chain position, which L2
transaction submitted it, why a group gave up) lives here.

A withdrawal belongs to at most one *live* group: a member row is live until its group releases
it (`released_at`), and a partial unique index on live members makes a second claim fail in the
database itself, whatever two collectors do at once.
"""

from __future__ import annotations

import enum

from sqlalchemy import (
    CHAR,
    BigInteger,
    Column,
    Date,
    DateTime,
    Double,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    text,
)

from intmax_core.warehouse.schema import HASH_LENGTH, metadata, moment_column
from intmax_core.warehouse.types import Uint256


class GroupStatus(enum.StrEnum):
    """collected -> proving -> submitting -> submitted, or failed (reverted) / released (gave up, rows requeued)."""

    COLLECTED = "collected"  # members claimed; waiting for a proving run
    PROVING = "proving"  # chain, wrapper and gnark proofs requested
    SUBMITTING = "submitting"  # submitWithdrawalProof handed to the transaction sender
    SUBMITTED = "submitted"  # mined: members are `relayed`
    FAILED = "failed"  # the submission reverted: members are `failed`
    RELEASED = "released"  # prover or RPC failure: members back to `requested` for a later group


LIVE_STATUSES = (GroupStatus.COLLECTED.value, GroupStatus.PROVING.value, GroupStatus.SUBMITTING.value)
ENDED_STATUSES = (GroupStatus.SUBMITTED.value, GroupStatus.FAILED.value, GroupStatus.RELEASED.value)

withdrawal_groups = Table(
    "withdrawal_groups",
    metadata,
    Column("group_id", CHAR(36), nullable=False, comment="Group id (a UUID)."),
    Column(
        "status",
        String(16),
        nullable=False,
        comment="collected -> proving -> submitting -> submitted; failed (submission reverted); "
        "released (prover/RPC failure: members back to requested).",
    ),
    Column("attempt", Integer, nullable=False, server_default="0", comment="Proving runs started for the group."),
    Column("member_count", Integer, nullable=False, comment="Withdrawals in the group."),
    Column("l2_tx_hash", CHAR(HASH_LENGTH), nullable=True, comment="L2 submitWithdrawalProof transaction, once sent."),
    Column("l2_block_number", BigInteger, nullable=True, comment="L2 block of that transaction, once mined."),
    Column("last_withdrawal_hash", CHAR(HASH_LENGTH), nullable=True, comment="Chained hash the proof commits to."),
    Column(
        "error", Text, nullable=True, comment="Why the group failed or was released (decoded revert, prover error)."
    ),
    Column("error_name", String(128), nullable=True, comment="Decoded revert name when the submission reverted."),
    moment_column("created_at", "When the collector formed the group."),
    moment_column("updated_at", "When the group last changed."),
    Column("submitted_at", DateTime(timezone=True), nullable=True, comment="L2 block time of the submission."),
    PrimaryKeyConstraint("group_id"),
    Index("ix_withdrawal_groups_status_created_at", "status", "created_at"),
    comment="Groups of requested withdrawals proven and submitted together (the withdrawal aggregator).",
)

withdrawal_group_members = Table(
    "withdrawal_group_members",
    metadata,
    Column("group_id", CHAR(36), nullable=False, comment="withdrawal_groups.group_id."),
    Column("position", Integer, nullable=False, comment="Chain position in the group (0 first): the proof order."),
    Column("withdrawal_hash", CHAR(HASH_LENGTH), nullable=False, comment="withdrawals.withdrawal_hash."),
    Column(
        "released_at",
        DateTime(timezone=True),
        nullable=True,
        comment="When the group let the withdrawal go (null while the group is live or submitted it).",
    ),
    PrimaryKeyConstraint("group_id", "position"),
    # At most one unreleased membership per withdrawal: two collectors can never both claim it.
    Index(
        "uq_withdrawal_group_members_live_hash",
        "withdrawal_hash",
        unique=True,
        postgresql_where=text("released_at IS NULL"),
        sqlite_where=text("released_at IS NULL"),
    ),
    comment="Members of each withdrawal group with their chain position; a withdrawal has at most one "
    "unreleased membership.",
)

withdrawal_daily_stats = Table(
    "withdrawal_daily_stats",
    metadata,
    Column("day", Date, nullable=False, comment="UTC day the withdrawals were requested."),
    Column("token_index", BigInteger, nullable=False, comment="Liquidity token index (0 = ETH)."),
    Column("requested_count", Integer, nullable=False, comment="Requested that day and still requested."),
    Column("relayed_count", Integer, nullable=False, comment="Requested that day, now relayed (submitted on L2)."),
    Column("success_count", Integer, nullable=False, comment="Requested that day, now paid on L1."),
    Column("need_claim_count", Integer, nullable=False, comment="Requested that day, now claimable on L1."),
    Column("failed_count", Integer, nullable=False, comment="Requested that day, whose submission reverted."),
    Column("amount_base_units", Uint256(), nullable=False, comment="Sum of the amounts in base units (exact)."),
    Column("p50_to_relayed_seconds", Double, nullable=True, comment="Median time from request to the L2 queue event."),
    Column("p95_to_relayed_seconds", Double, nullable=True, comment="95th percentile of that time."),
    Column(
        "p50_relayed_to_l1_seconds",
        Double,
        nullable=True,
        comment="Median time from the L2 queue event to the first L1 event (paid or claimable).",
    ),
    Column("p95_relayed_to_l1_seconds", Double, nullable=True, comment="95th percentile of that time."),
    Column(
        "gas_per_withdrawal",
        Double,
        nullable=True,
        comment="L2 gas of the submissions that carried them, divided by the withdrawals each carried (mean).",
    ),
    moment_column("computed_at", "When the day's row was computed (a later run recomputes it)."),
    PrimaryKeyConstraint("day", "token_index"),
    comment="Per UTC request day and token: withdrawals per status, volume, latencies and L2 gas, computed from "
    "withdrawals, the indexed events, the groups and the ledger by the withdrawal_daily_stats asset.",
)
