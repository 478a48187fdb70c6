"""The withdrawal_daily_stats table: per request day and token, statuses, volume, latencies and gas.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intmax_core.warehouse.types  # custom column types (Uint256) that autogenerate renders

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "withdrawal_daily_stats",
        sa.Column("day", sa.Date(), nullable=False, comment="UTC day the withdrawals were requested."),
        sa.Column("token_index", sa.BigInteger(), nullable=False, comment="Liquidity token index (0 = ETH)."),
        sa.Column("requested_count", sa.Integer(), nullable=False, comment="Requested that day and still requested."),
        sa.Column(
            "relayed_count", sa.Integer(), nullable=False, comment="Requested that day, now relayed (submitted on L2)."
        ),
        sa.Column("success_count", sa.Integer(), nullable=False, comment="Requested that day, now paid on L1."),
        sa.Column("need_claim_count", sa.Integer(), nullable=False, comment="Requested that day, now claimable on L1."),
        sa.Column(
            "failed_count", sa.Integer(), nullable=False, comment="Requested that day, whose submission reverted."
        ),
        sa.Column(
            "amount_base_units",
            intmax_core.warehouse.types.Uint256(precision=78, scale=0),
            nullable=False,
            comment="Sum of the amounts in base units (exact).",
        ),
        sa.Column(
            "p50_to_relayed_seconds",
            sa.Double(),
            nullable=True,
            comment="Median time from request to the L2 queue event.",
        ),
        sa.Column("p95_to_relayed_seconds", sa.Double(), nullable=True, comment="95th percentile of that time."),
        sa.Column(
            "p50_relayed_to_l1_seconds",
            sa.Double(),
            nullable=True,
            comment="Median time from the L2 queue event to the first L1 event (paid or claimable).",
        ),
        sa.Column("p95_relayed_to_l1_seconds", sa.Double(), nullable=True, comment="95th percentile of that time."),
        sa.Column(
            "gas_per_withdrawal",
            sa.Double(),
            nullable=True,
            comment="L2 gas of the submissions that carried them, divided by the withdrawals each carried (mean).",
        ),
        sa.Column(
            "computed_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
            comment="When the day's row was computed (a later run recomputes it).",
        ),
        sa.PrimaryKeyConstraint("day", "token_index", name=op.f("pk_withdrawal_daily_stats")),
        comment="Per UTC request day and token: withdrawals per status, volume, latencies and L2 gas, computed from withdrawals, the indexed events, the groups and the ledger by the withdrawal_daily_stats asset.",
    )


def downgrade() -> None:

    op.drop_table("withdrawal_daily_stats")
