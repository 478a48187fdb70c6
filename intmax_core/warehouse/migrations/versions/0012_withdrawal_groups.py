"""The withdrawal aggregator's tables (withdrawal_groups, withdrawal_group_members) and an index on withdrawals (status, created_at) for the collector.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "withdrawal_group_members",
        sa.Column("group_id", sa.CHAR(length=36), nullable=False, comment="withdrawal_groups.group_id."),
        sa.Column(
            "position", sa.Integer(), nullable=False, comment="Chain position in the group (0 first): the proof order."
        ),
        sa.Column("withdrawal_hash", sa.CHAR(length=66), nullable=False, comment="withdrawals.withdrawal_hash."),
        sa.Column(
            "released_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the group let the withdrawal go (null while the group is live or submitted it).",
        ),
        sa.PrimaryKeyConstraint("group_id", "position", name=op.f("pk_withdrawal_group_members")),
        comment="Members of each withdrawal group with their chain position; a withdrawal has at most one unreleased membership.",
    )
    with op.batch_alter_table("withdrawal_group_members", schema=None) as batch_op:
        batch_op.create_index(
            "uq_withdrawal_group_members_live_hash",
            ["withdrawal_hash"],
            unique=True,
            postgresql_where=sa.text("released_at IS NULL"),
            sqlite_where=sa.text("released_at IS NULL"),
        )

    op.create_table(
        "withdrawal_groups",
        sa.Column("group_id", sa.CHAR(length=36), nullable=False, comment="Group id (a UUID)."),
        sa.Column(
            "status",
            sa.String(length=16),
            nullable=False,
            comment="collected -> proving -> submitting -> submitted; failed (submission reverted); released (prover/RPC failure: members back to requested).",
        ),
        sa.Column(
            "attempt", sa.Integer(), server_default="0", nullable=False, comment="Proving runs started for the group."
        ),
        sa.Column("member_count", sa.Integer(), nullable=False, comment="Withdrawals in the group."),
        sa.Column(
            "l2_tx_hash", sa.CHAR(length=66), nullable=True, comment="L2 submitWithdrawalProof transaction, once sent."
        ),
        sa.Column(
            "l2_block_number", sa.BigInteger(), nullable=True, comment="L2 block of that transaction, once mined."
        ),
        sa.Column(
            "last_withdrawal_hash", sa.CHAR(length=66), nullable=True, comment="Chained hash the proof commits to."
        ),
        sa.Column(
            "error",
            sa.Text(),
            nullable=True,
            comment="Why the group failed or was released (decoded revert, prover error).",
        ),
        sa.Column(
            "error_name",
            sa.String(length=128),
            nullable=True,
            comment="Decoded revert name when the submission reverted.",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
            comment="When the collector formed the group.",
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
            comment="When the group last changed.",
        ),
        sa.Column(
            "submitted_at", sa.DateTime(timezone=True), nullable=True, comment="L2 block time of the submission."
        ),
        sa.PrimaryKeyConstraint("group_id", name=op.f("pk_withdrawal_groups")),
        comment="Groups of requested withdrawals proven and submitted together (the withdrawal aggregator).",
    )
    with op.batch_alter_table("withdrawal_groups", schema=None) as batch_op:
        batch_op.create_index("ix_withdrawal_groups_status_created_at", ["status", "created_at"], unique=False)

    with op.batch_alter_table("withdrawals", schema=None) as batch_op:
        batch_op.create_index("ix_withdrawals_status_created_at", ["status", "created_at"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("withdrawals", schema=None) as batch_op:
        batch_op.drop_index("ix_withdrawals_status_created_at")

    with op.batch_alter_table("withdrawal_groups", schema=None) as batch_op:
        batch_op.drop_index("ix_withdrawal_groups_status_created_at")

    op.drop_table("withdrawal_groups")
    with op.batch_alter_table("withdrawal_group_members", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_withdrawal_group_members_live_hash",
            postgresql_where=sa.text("released_at IS NULL"),
            sqlite_where=sa.text("released_at IS NULL"),
        )

    op.drop_table("withdrawal_group_members")
